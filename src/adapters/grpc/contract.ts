/**
 * provider.Service and k8sprovider.v1.Instances as their callers see them: the client constructor and the wire
 * types. Programs that call the daemon (the CLI) import this module, not the
 * generated files, so the generated layout can change behind it.
 */
export { loadProto, loadInstancesProto } from './proto.js';
export type { ServiceClient } from './generated/provider/Service.js';
export type { ConnectResponse__Output } from './generated/provider/ConnectResponse.js';
export type { ContainerPort } from './generated/provider/ContainerPort.js';
export type { InstanceAffinity } from './generated/provider/InstanceAffinity.js';
export type { TopologySpread } from './generated/provider/TopologySpread.js';
export type { QuotaGuard__Output } from './generated/provider/QuotaGuard.js';
export type { DeployRequest } from './generated/provider/DeployRequest.js';
export type { DeployResponse__Output } from './generated/provider/DeployResponse.js';
export type { GetAvailableResponse__Output } from './generated/provider/GetAvailableResponse.js';
export type { GetCapacityResponse__Output } from './generated/provider/GetCapacityResponse.js';
export type { GetRealTimeUsageResponse__Output } from './generated/provider/GetRealTimeUsageResponse.js';
export type { HealthCheckResponse__Output } from './generated/provider/HealthCheckResponse.js';
export type { Toleration } from './generated/provider/Toleration.js';
export type { Workload } from './generated/provider/Workload.js';
export type { Capacity__Output } from './generated/resource/Capacity.js';
export type { Info__Output } from './generated/resource/Info.js';
export type { InstancesClient } from './generated/k8sprovider/v1/Instances.js';
export type { Instance__Output } from './generated/k8sprovider/v1/Instance.js';
export type { GetInstanceResponse__Output } from './generated/k8sprovider/v1/GetInstanceResponse.js';
export type { ListInstancesResponse__Output } from './generated/k8sprovider/v1/ListInstancesResponse.js';
export type { WatchInstancesResponse__Output } from './generated/k8sprovider/v1/WatchInstancesResponse.js';
export type { GetLogsRequest } from './generated/k8sprovider/v1/GetLogsRequest.js';
export type { GetLogsResponse__Output } from './generated/k8sprovider/v1/GetLogsResponse.js';
export type { UndeployRequest } from './generated/k8sprovider/v1/UndeployRequest.js';
export type { SendHttpRequestRequest } from './generated/k8sprovider/v1/SendHttpRequestRequest.js';
export type { SendHttpRequestResponse__Output } from './generated/k8sprovider/v1/SendHttpRequestResponse.js';
export type { UndeployResponse__Output } from './generated/k8sprovider/v1/UndeployResponse.js';
export type { Volume } from './generated/provider/Volume.js';
export type { StorageCapacity__Output } from './generated/provider/StorageCapacity.js';
export type { ScaleInstanceRequest } from './generated/k8sprovider/v1/ScaleInstanceRequest.js';
export type { ScaleInstanceResponse__Output } from './generated/k8sprovider/v1/ScaleInstanceResponse.js';
