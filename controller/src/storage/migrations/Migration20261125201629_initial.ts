import { Migration } from '@mikro-orm/migrations';

export class Migration20261125201629_initial extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "audit_log" ("id" uuid not null, "at" timestamptz not null, "actor" varchar(200) not null, "action" varchar(100) not null, "target_type" varchar(50) null, "target_id" varchar(100) null, "details" jsonb not null, "prev_hash" varchar(64) not null, "hash" varchar(64) not null, constraint "audit_log_pkey" primary key ("id"));`
    );
    this.addSql(`create index "audit_log_at_index" on "audit_log" ("at");`);
    this.addSql(`alter table "audit_log" add constraint "audit_log_hash_unique" unique ("hash");`);

    this.addSql(
      `create table "private_keys" ("id" uuid not null, "algorithm" varchar(20) not null, "public_key_sha256" varchar(64) not null, "public_key_pem" text not null, "sealed" bytea not null, "exportable" boolean not null default true, "label" varchar(200) null, "created_at" timestamptz not null, constraint "private_keys_pkey" primary key ("id"));`
    );
    this.addSql(
      `alter table "private_keys" add constraint "private_keys_public_key_sha256_unique" unique ("public_key_sha256");`
    );

    this.addSql(
      `create table "certificate_authorities" ("id" uuid not null, "name" varchar(200) not null, "subject" text not null, "certificate_pem" text not null, "private_key_id" uuid not null, "status" varchar(20) not null, "created_at" timestamptz not null, constraint "certificate_authorities_pkey" primary key ("id"));`
    );
    this.addSql(
      `alter table "certificate_authorities" add constraint "certificate_authorities_subject_unique" unique ("subject");`
    );

    this.addSql(
      `create table "provider_accounts" ("id" uuid not null, "name" varchar(200) not null, "vendor" varchar(200) not null, "url" text null, "username" varchar(200) null, "email" varchar(320) null, "password_sealed" bytea null, "notes" text null, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "provider_accounts_pkey" primary key ("id"));`
    );
    this.addSql(`alter table "provider_accounts" add constraint "provider_accounts_name_unique" unique ("name");`);

    this.addSql(
      `create table "certificate_definitions" ("id" uuid not null, "name" varchar(200) not null, "subject" jsonb not null, "sans" jsonb not null, "key_spec" varchar(20) not null, "product_id" varchar(100) null, "requirements" jsonb null, "issuer_type" varchar(50) not null, "provider_account_id" uuid null, "deploy_targets" jsonb not null, "operation_mode" varchar(20) not null, "process_mode" varchar(20) not null, "renewal_lead_days" int not null, "trusted_ca_set_id" varchar(100) null, "cloned_from_id" uuid null, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "certificate_definitions_pkey" primary key ("id"));`
    );
    this.addSql(
      `alter table "certificate_definitions" add constraint "certificate_definitions_name_unique" unique ("name");`
    );

    this.addSql(
      `create table "certificate_requests" ("id" uuid not null, "definition_id" uuid not null, "kind" varchar(20) not null, "status" varchar(30) not null, "private_key_id" uuid null, "csr_pem" text null, "product_id" varchar(100) null, "provider_account_id" uuid null, "order_number" varchar(200) null, "order_date" timestamptz null, "waiting_for" text null, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "certificate_requests_pkey" primary key ("id"));`
    );
    this.addSql(`create index "certificate_requests_definition_id_index" on "certificate_requests" ("definition_id");`);

    this.addSql(
      `create table "documents" ("id" uuid not null, "definition_id" uuid not null, "request_id" uuid null, "file_name" varchar(255) not null, "content_type" varchar(200) not null, "size" int not null, "sha256" varchar(64) not null, "content" bytea not null, "created_at" timestamptz not null, constraint "documents_pkey" primary key ("id"));`
    );
    this.addSql(`create index "documents_definition_id_index" on "documents" ("definition_id");`);

    this.addSql(
      `create table "certificates" ("id" uuid not null, "definition_id" uuid not null, "request_id" uuid null, "private_key_id" uuid null, "pem" text not null, "chain_pem" jsonb not null, "sha1" varchar(40) not null, "sha256" varchar(64) not null, "serial" varchar(100) not null, "subject" text not null, "issuer" text not null, "not_before" timestamptz not null, "not_after" timestamptz not null, "key_algorithm" varchar(20) not null, "sans" jsonb not null, "is_current" boolean not null default false, "source" varchar(30) not null, "created_at" timestamptz not null, constraint "certificates_pkey" primary key ("id"));`
    );
    this.addSql(`create index "certificates_definition_id_index" on "certificates" ("definition_id");`);
    this.addSql(`create index "certificates_sha1_index" on "certificates" ("sha1");`);
    this.addSql(`alter table "certificates" add constraint "certificates_sha256_unique" unique ("sha256");`);
    this.addSql(`create index "certificates_not_after_idx" on "certificates" ("not_after");`);
    this.addSql(
      `create unique index "certificates_one_current_per_definition" on "certificates" ("definition_id") where "is_current";`
    );

    this.addSql(
      `create table "monitoring_history" ("id" uuid not null, "definition_id" uuid not null, "certificate_id" uuid null, "endpoint" varchar(300) not null, "status" varchar(20) not null, "reason" varchar(100) not null, "message" text null, "at" timestamptz not null, constraint "monitoring_history_pkey" primary key ("id"));`
    );
    this.addSql(`create index "monitoring_history_definition_id_index" on "monitoring_history" ("definition_id");`);

    this.addSql(
      `create table "deployment_history" ("id" uuid not null, "certificate_id" uuid not null, "target" varchar(300) not null, "status" varchar(20) not null, "message" text null, "at" timestamptz not null, constraint "deployment_history_pkey" primary key ("id"));`
    );
    this.addSql(`create index "deployment_history_certificate_id_index" on "deployment_history" ("certificate_id");`);

    this.addSql(
      `create table "purchase_history" ("id" uuid not null, "definition_id" uuid not null, "request_id" uuid null, "vendor" varchar(200) null, "product_id" varchar(100) null, "order_number" varchar(200) null, "order_date" timestamptz null, "note" text null, "at" timestamptz not null, constraint "purchase_history_pkey" primary key ("id"));`
    );
    this.addSql(`create index "purchase_history_definition_id_index" on "purchase_history" ("definition_id");`);

    this.addSql(
      `create table "request_status_history" ("id" uuid not null, "request_id" uuid not null, "from_status" varchar(30) null, "to_status" varchar(30) not null, "note" text null, "actor" varchar(200) not null, "at" timestamptz not null, constraint "request_status_history_pkey" primary key ("id"));`
    );
    this.addSql(`create index "request_status_history_request_id_index" on "request_status_history" ("request_id");`);

    this.addSql(
      `create table "settings" ("key" varchar(100) not null, "value" jsonb not null, "updated_at" timestamptz not null, constraint "settings_pkey" primary key ("key"));`
    );

    this.addSql(
      `create table "users" ("id" uuid not null, "username" varchar(100) not null, "password_hash" text not null, "role" varchar(20) not null, "must_change_password" boolean not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "users_pkey" primary key ("id"));`
    );
    this.addSql(`alter table "users" add constraint "users_username_unique" unique ("username");`);

    this.addSql(
      `create table "api_sessions" ("id" uuid not null, "user_id" uuid not null, "token_sha256" varchar(64) not null, "created_at" timestamptz not null, "expires_at" timestamptz not null, "last_seen_at" timestamptz not null, constraint "api_sessions_pkey" primary key ("id"));`
    );
    this.addSql(`create index "api_sessions_user_id_index" on "api_sessions" ("user_id");`);
    this.addSql(
      `alter table "api_sessions" add constraint "api_sessions_token_sha256_unique" unique ("token_sha256");`
    );

    this.addSql(
      `alter table "certificate_authorities" add constraint "certificate_authorities_private_key_id_foreign" foreign key ("private_key_id") references "private_keys" ("id") on update cascade on delete restrict;`
    );

    this.addSql(
      `alter table "certificate_definitions" add constraint "certificate_definitions_provider_account_id_foreign" foreign key ("provider_account_id") references "provider_accounts" ("id") on update cascade on delete set null;`
    );
    this.addSql(
      `alter table "certificate_definitions" add constraint "certificate_definitions_cloned_from_id_foreign" foreign key ("cloned_from_id") references "certificate_definitions" ("id") on update cascade on delete set null;`
    );

    this.addSql(
      `alter table "certificate_requests" add constraint "certificate_requests_definition_id_foreign" foreign key ("definition_id") references "certificate_definitions" ("id") on update cascade on delete cascade;`
    );
    this.addSql(
      `alter table "certificate_requests" add constraint "certificate_requests_private_key_id_foreign" foreign key ("private_key_id") references "private_keys" ("id") on update cascade on delete set null;`
    );
    this.addSql(
      `alter table "certificate_requests" add constraint "certificate_requests_provider_account_id_foreign" foreign key ("provider_account_id") references "provider_accounts" ("id") on update cascade on delete set null;`
    );

    this.addSql(
      `alter table "documents" add constraint "documents_definition_id_foreign" foreign key ("definition_id") references "certificate_definitions" ("id") on update cascade on delete cascade;`
    );
    this.addSql(
      `alter table "documents" add constraint "documents_request_id_foreign" foreign key ("request_id") references "certificate_requests" ("id") on update cascade on delete cascade;`
    );

    this.addSql(
      `alter table "certificates" add constraint "certificates_definition_id_foreign" foreign key ("definition_id") references "certificate_definitions" ("id") on update cascade on delete cascade;`
    );
    this.addSql(
      `alter table "certificates" add constraint "certificates_request_id_foreign" foreign key ("request_id") references "certificate_requests" ("id") on update cascade on delete set null;`
    );
    this.addSql(
      `alter table "certificates" add constraint "certificates_private_key_id_foreign" foreign key ("private_key_id") references "private_keys" ("id") on update cascade on delete set null;`
    );

    this.addSql(
      `alter table "monitoring_history" add constraint "monitoring_history_definition_id_foreign" foreign key ("definition_id") references "certificate_definitions" ("id") on update cascade on delete cascade;`
    );
    this.addSql(
      `alter table "monitoring_history" add constraint "monitoring_history_certificate_id_foreign" foreign key ("certificate_id") references "certificates" ("id") on update cascade on delete set null;`
    );

    this.addSql(
      `alter table "deployment_history" add constraint "deployment_history_certificate_id_foreign" foreign key ("certificate_id") references "certificates" ("id") on update cascade on delete cascade;`
    );

    this.addSql(
      `alter table "purchase_history" add constraint "purchase_history_definition_id_foreign" foreign key ("definition_id") references "certificate_definitions" ("id") on update cascade on delete cascade;`
    );
    this.addSql(
      `alter table "purchase_history" add constraint "purchase_history_request_id_foreign" foreign key ("request_id") references "certificate_requests" ("id") on update cascade on delete set null;`
    );

    this.addSql(
      `alter table "request_status_history" add constraint "request_status_history_request_id_foreign" foreign key ("request_id") references "certificate_requests" ("id") on update cascade on delete cascade;`
    );

    this.addSql(
      `alter table "api_sessions" add constraint "api_sessions_user_id_foreign" foreign key ("user_id") references "users" ("id") on update cascade on delete cascade;`
    );
  }

  override async down(): Promise<void> {
    this.addSql(
      `alter table "certificate_authorities" drop constraint "certificate_authorities_private_key_id_foreign";`
    );

    this.addSql(`alter table "certificate_requests" drop constraint "certificate_requests_private_key_id_foreign";`);

    this.addSql(`alter table "certificates" drop constraint "certificates_private_key_id_foreign";`);

    this.addSql(
      `alter table "certificate_definitions" drop constraint "certificate_definitions_provider_account_id_foreign";`
    );

    this.addSql(
      `alter table "certificate_requests" drop constraint "certificate_requests_provider_account_id_foreign";`
    );

    this.addSql(
      `alter table "certificate_definitions" drop constraint "certificate_definitions_cloned_from_id_foreign";`
    );

    this.addSql(`alter table "certificate_requests" drop constraint "certificate_requests_definition_id_foreign";`);

    this.addSql(`alter table "documents" drop constraint "documents_definition_id_foreign";`);

    this.addSql(`alter table "certificates" drop constraint "certificates_definition_id_foreign";`);

    this.addSql(`alter table "monitoring_history" drop constraint "monitoring_history_definition_id_foreign";`);

    this.addSql(`alter table "purchase_history" drop constraint "purchase_history_definition_id_foreign";`);

    this.addSql(`alter table "documents" drop constraint "documents_request_id_foreign";`);

    this.addSql(`alter table "certificates" drop constraint "certificates_request_id_foreign";`);

    this.addSql(`alter table "purchase_history" drop constraint "purchase_history_request_id_foreign";`);

    this.addSql(`alter table "request_status_history" drop constraint "request_status_history_request_id_foreign";`);

    this.addSql(`alter table "monitoring_history" drop constraint "monitoring_history_certificate_id_foreign";`);

    this.addSql(`alter table "deployment_history" drop constraint "deployment_history_certificate_id_foreign";`);

    this.addSql(`alter table "api_sessions" drop constraint "api_sessions_user_id_foreign";`);

    this.addSql(`drop table if exists "audit_log" cascade;`);

    this.addSql(`drop table if exists "private_keys" cascade;`);

    this.addSql(`drop table if exists "certificate_authorities" cascade;`);

    this.addSql(`drop table if exists "provider_accounts" cascade;`);

    this.addSql(`drop table if exists "certificate_definitions" cascade;`);

    this.addSql(`drop table if exists "certificate_requests" cascade;`);

    this.addSql(`drop table if exists "documents" cascade;`);

    this.addSql(`drop table if exists "certificates" cascade;`);

    this.addSql(`drop table if exists "monitoring_history" cascade;`);

    this.addSql(`drop table if exists "deployment_history" cascade;`);

    this.addSql(`drop table if exists "purchase_history" cascade;`);

    this.addSql(`drop table if exists "request_status_history" cascade;`);

    this.addSql(`drop table if exists "settings" cascade;`);

    this.addSql(`drop table if exists "users" cascade;`);

    this.addSql(`drop table if exists "api_sessions" cascade;`);
  }
}
