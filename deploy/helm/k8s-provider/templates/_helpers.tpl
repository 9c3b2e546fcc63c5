{{/* The chart's name, or nameOverride. */}}
{{- define "k8s-provider.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Object names: the release name if it already contains the chart's name. */}}
{{- define "k8s-provider.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "k8s-provider.selectorLabels" -}}
app.kubernetes.io/name: {{ include "k8s-provider.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "k8s-provider.labels" -}}
app.kubernetes.io/name: {{ include "k8s-provider.name" . }}
{{ include "k8s-provider.releaseLabels" . }}
{{- end }}

{{/* What Helm conventionally adds: the release, chart and app version. */}}
{{- define "k8s-provider.releaseLabels" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "k8s-provider.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "k8s-provider.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "k8s-provider.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* Where the TLS Secret is mounted. */}}
{{- define "k8s-provider.tlsDir" -}}/app/tls{{- end }}

{{/* The name the TLS probes expect in the server certificate: the Service's DNS name unless set. */}}
{{- define "k8s-provider.tlsServerName" -}}
{{- default (printf "%s.%s.svc" (include "k8s-provider.fullname" .) .Release.Namespace) .Values.tls.serverName }}
{{- end }}

{{/* Where the config file is: the image's default, or a directory mount that the kubelet keeps current. */}}
{{- define "k8s-provider.configPath" -}}
{{- if eq .Values.configReload "inPlace" }}/app/config/config.yaml{{ else }}/app/config.yaml{{ end }}
{{- end }}

{{/*
The config file as the daemon reads it: .Values.config with the keys the
chart owns filled in (they must agree with the objects around the pod).
*/}}
{{- define "k8s-provider.config" -}}
{{- $config := deepCopy .Values.config }}
{{- $kube := merge (dict "namespace" .Values.workloadNamespace.name "in_cluster" true "kubeconfig" "") (default (dict) $config.kubernetes) }}
{{- $_ := set $kube "namespace" .Values.workloadNamespace.name }}
{{- $_ := set $config "kubernetes" $kube }}
{{- if .Values.tls.enabled }}
{{- $server := default (dict) $config.server }}
{{- $dir := include "k8s-provider.tlsDir" . }}
{{- $tls := dict "cert_file" (printf "%s/tls.crt" $dir) "key_file" (printf "%s/tls.key" $dir) }}
{{- if .Values.tls.clientAuth }}
{{- $_ := set $tls "client_ca_file" (printf "%s/ca.crt" $dir) }}
{{- end }}
{{- $_ := set $server "tls" $tls }}
{{- $_ := set $config "server" $server }}
{{- end }}
{{- toYaml $config }}
{{- end }}

{{/* The gRPC and Prometheus ports, from the config (the daemon's defaults when unset). */}}
{{- define "k8s-provider.grpcPort" -}}
{{- $server := default (dict) .Values.config.server }}
{{- default 50052 $server.port }}
{{- end }}

{{- define "k8s-provider.metricsPort" -}}
{{- $prometheus := default (dict) .Values.config.prometheus }}
{{- if hasKey $prometheus "port" }}{{ $prometheus.port }}{{ else }}9090{{ end }}
{{- end }}

{{/* resource.mode auto needs nodes and pods cluster-wide. */}}
{{- define "k8s-provider.clusterWide" -}}
{{- $resource := default (dict) .Values.config.resource }}
{{- if or .Values.rbac.clusterWide (eq (toString $resource.mode) "auto") }}true{{ end }}
{{- end }}
