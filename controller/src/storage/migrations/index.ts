import type { MigrationObject } from '@mikro-orm/core';
import { Migration20261125201629_initial } from './Migration20261125201629_initial';
import { Migration20261125205626_acquisition } from './Migration20261125205626_acquisition';
import { Migration20261125205921_open_request_guard } from './Migration20261125205921_open_request_guard';
import { Migration20261125210033_request_resume } from './Migration20261125210033_request_resume';
import { Migration20261125213342_no_fk_cycle } from './Migration20261125213342_no_fk_cycle';
import { Migration20261125224910_agents } from './Migration20261125224910_agents';
import { Migration20261125233849_monitoring } from './Migration20261125233849_monitoring';
import { Migration20261126011310_sites_and_run_requests } from './Migration20261126011310_sites_and_run_requests';
import { Migration20261126011615_discovery_scans } from './Migration20261126011615_discovery_scans';
import { Migration20261126035057_list_paging } from './Migration20261126035057_list_paging';
import { Migration20261126035101_login_throttle } from './Migration20261126035101_login_throttle';
import { Migration20261126044314_deploy_target_endpoints } from './Migration20261126044314_deploy_target_endpoints';

/**
 * Every migration, in order, listed explicitly so that bundles and single executables need no folder scanning.
 * New migrations are created with `npm run migration:create -w controller -- name` and appended here.
 */
export const migrationsList: MigrationObject[] = [
  { name: 'Migration20261125201629_initial', class: Migration20261125201629_initial },
  { name: 'Migration20261125205626_acquisition', class: Migration20261125205626_acquisition },
  { name: 'Migration20261125205921_open_request_guard', class: Migration20261125205921_open_request_guard },
  { name: 'Migration20261125210033_request_resume', class: Migration20261125210033_request_resume },
  { name: 'Migration20261125213342_no_fk_cycle', class: Migration20261125213342_no_fk_cycle },
  { name: 'Migration20261125224910_agents', class: Migration20261125224910_agents },
  { name: 'Migration20261125233849_monitoring', class: Migration20261125233849_monitoring },
  { name: 'Migration20261126011310_sites_and_run_requests', class: Migration20261126011310_sites_and_run_requests },
  { name: 'Migration20261126011615_discovery_scans', class: Migration20261126011615_discovery_scans },
  { name: 'Migration20261126035057_list_paging', class: Migration20261126035057_list_paging },
  { name: 'Migration20261126035101_login_throttle', class: Migration20261126035101_login_throttle },
  { name: 'Migration20261126044314_deploy_target_endpoints', class: Migration20261126044314_deploy_target_endpoints },
];
