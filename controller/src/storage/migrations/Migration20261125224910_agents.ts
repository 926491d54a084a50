import { Migration } from '@mikro-orm/migrations';

export class Migration20261125224910_agents extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "agents" ("id" uuid not null, "name" varchar(253) not null, "status" varchar(10) not null, "bundle_public_key" varchar(100) not null, "cert_serial" varchar(64) not null, "cert_not_after" timestamptz not null, "next_cert_serial" varchar(64) null, "agent_version" varchar(50) not null, "enrolled_at" timestamptz not null, "last_seen_at" timestamptz null, "banned_at" timestamptz null, constraint "agents_pkey" primary key ("id"));`
    );

    this.addSql(
      `create table "agent_join_tokens" ("id" uuid not null, "token_hash" varchar(64) not null, "label" varchar(200) null, "created_by" varchar(200) not null, "created_at" timestamptz not null, "expires_at" timestamptz not null, "used_at" timestamptz null, "agent_id" uuid null, constraint "agent_join_tokens_pkey" primary key ("id"));`
    );
    this.addSql(
      `alter table "agent_join_tokens" add constraint "agent_join_tokens_token_hash_unique" unique ("token_hash");`
    );

    this.addSql(
      `create table "deployments" ("id" uuid not null, "certificate_id" uuid not null, "definition_id" uuid not null, "slot" varchar(100) not null, "version" int not null, "target" jsonb not null, "method" varchar(10) not null, "agent_id" uuid null, "bundle_id" uuid not null, "status" varchar(20) not null, "reason" varchar(100) null, "message" text null, "served_sha256" varchar(64) null, "receipt_public_key" text null, "receipt_at" timestamptz null, "created_by" varchar(200) not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "deployments_pkey" primary key ("id"));`
    );
    this.addSql(`create index "deployments_certificate_id_index" on "deployments" ("certificate_id");`);
    this.addSql(`create index "deployments_definition_id_index" on "deployments" ("definition_id");`);
    this.addSql(`create index "deployments_agent_id_index" on "deployments" ("agent_id");`);
    this.addSql(`alter table "deployments" add constraint "deployments_bundle_id_unique" unique ("bundle_id");`);
    this.addSql(
      `alter table "deployments" add constraint "deployments_slot_version_unique" unique ("slot", "version");`
    );

    this.addSql(
      `create table "agent_jobs" ("id" uuid not null, "agent_id" uuid not null, "deployment_id" uuid null, "kind" varchar(20) not null, "slot" varchar(100) null, "payload" bytea not null, "status" varchar(20) not null, "attempts" int not null, "result" jsonb null, "created_at" timestamptz not null, "delivered_at" timestamptz null, "finished_at" timestamptz null, constraint "agent_jobs_pkey" primary key ("id"));`
    );
    this.addSql(`create index "agent_jobs_deployment_id_index" on "agent_jobs" ("deployment_id");`);
    this.addSql(`create index "agent_jobs_agent_id_status_index" on "agent_jobs" ("agent_id", "status");`);

    this.addSql(
      `alter table "agent_join_tokens" add constraint "agent_join_tokens_agent_id_foreign" foreign key ("agent_id") references "agents" ("id") on update cascade on delete set null;`
    );

    this.addSql(
      `alter table "deployments" add constraint "deployments_certificate_id_foreign" foreign key ("certificate_id") references "certificates" ("id") on update cascade on delete cascade;`
    );
    this.addSql(
      `alter table "deployments" add constraint "deployments_definition_id_foreign" foreign key ("definition_id") references "certificate_definitions" ("id") on update cascade on delete cascade;`
    );
    this.addSql(
      `alter table "deployments" add constraint "deployments_agent_id_foreign" foreign key ("agent_id") references "agents" ("id") on update cascade on delete set null;`
    );

    this.addSql(
      `alter table "agent_jobs" add constraint "agent_jobs_agent_id_foreign" foreign key ("agent_id") references "agents" ("id") on update cascade on delete cascade;`
    );
    this.addSql(
      `alter table "agent_jobs" add constraint "agent_jobs_deployment_id_foreign" foreign key ("deployment_id") references "deployments" ("id") on update cascade on delete cascade;`
    );
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "agent_join_tokens" drop constraint "agent_join_tokens_agent_id_foreign";`);

    this.addSql(`alter table "deployments" drop constraint "deployments_agent_id_foreign";`);

    this.addSql(`alter table "agent_jobs" drop constraint "agent_jobs_agent_id_foreign";`);

    this.addSql(`alter table "agent_jobs" drop constraint "agent_jobs_deployment_id_foreign";`);

    this.addSql(`drop table if exists "agents" cascade;`);

    this.addSql(`drop table if exists "agent_join_tokens" cascade;`);

    this.addSql(`drop table if exists "deployments" cascade;`);

    this.addSql(`drop table if exists "agent_jobs" cascade;`);
  }
}
