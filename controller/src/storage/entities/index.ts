import { AgentEntity, AgentJobEntity, DeploymentEntity, JoinTokenEntity } from './agent.entity';
import { MonitorRunEntity, MonitoredEndpointEntity, TrustSetEntity, TrustSetRootEntity } from './monitoring.entity';
import { DiscoveryFindingEntity, DiscoveryScanEntity } from './discovery.entity';
import {
  CaIssuanceEntity,
  CertificateAuthorityEntity,
  SecretEntity,
  SettingEntity,
} from './certificate-authority.entity';
import { SentMailEntity } from './notification.entity';
import { AcmeAccountEntity, ProductEntity } from './product.entity';
import { CertificateEntity } from './certificate.entity';
import { DefinitionEntity } from './definition.entity';
import { DocumentEntity } from './document.entity';
import {
  AuditEventEntity,
  DeploymentHistoryEntity,
  MonitoringHistoryEntity,
  PurchaseHistoryEntity,
} from './history.entity';
import { PrivateKeyEntity } from './private-key.entity';
import { ProviderAccountEntity } from './provider-account.entity';
import { RequestEntity, RequestStatusChangeEntity } from './request.entity';
import { ApiSessionEntity, UserEntity } from './user.entity';
import { LoginThrottleEntity } from './login-throttle.entity';

export * from './agent.entity';
export * from './monitoring.entity';
export * from './discovery.entity';
export * from './certificate-authority.entity';
export * from './certificate.entity';
export * from './definition.entity';
export * from './document.entity';
export * from './history.entity';
export * from './private-key.entity';
export * from './provider-account.entity';
export * from './request.entity';
export * from './user.entity';
export * from './login-throttle.entity';
export * from './notification.entity';
export * from './product.entity';

/** Every entity, listed explicitly (no folder scanning: works in bundles and single executables). */
export const allEntities = [
  DefinitionEntity,
  RequestEntity,
  RequestStatusChangeEntity,
  CertificateEntity,
  PrivateKeyEntity,
  DocumentEntity,
  ProviderAccountEntity,
  PurchaseHistoryEntity,
  DeploymentHistoryEntity,
  MonitoringHistoryEntity,
  AuditEventEntity,
  UserEntity,
  ApiSessionEntity,
  LoginThrottleEntity,
  CertificateAuthorityEntity,
  SettingEntity,
  CaIssuanceEntity,
  SecretEntity,
  SentMailEntity,
  ProductEntity,
  AcmeAccountEntity,
  AgentEntity,
  JoinTokenEntity,
  DeploymentEntity,
  AgentJobEntity,
  MonitoredEndpointEntity,
  MonitorRunEntity,
  TrustSetEntity,
  TrustSetRootEntity,
  DiscoveryScanEntity,
  DiscoveryFindingEntity,
];
