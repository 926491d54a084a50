import { Migration } from '@mikro-orm/migrations';

export class Migration20261126044314_deploy_target_endpoints extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `alter table "monitored_endpoints" add column "source" varchar(20) not null default 'manual', add column "deploy_target_index" int null;`
    );

    this.addSql(
      `create index "monitoring_history_definition_endpoint_at_idx" on "monitoring_history" ("definition_id", "endpoint", "at", "id");`
    );
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "monitored_endpoints" drop column "source", drop column "deploy_target_index";`);

    this.addSql(`drop index "monitoring_history_definition_endpoint_at_idx";`);
  }
}
