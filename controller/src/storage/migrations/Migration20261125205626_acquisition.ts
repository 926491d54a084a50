import { Migration } from '@mikro-orm/migrations';

export class Migration20261125205626_acquisition extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "acme_accounts" ("id" uuid not null, "directory_url" text not null, "email" varchar(320) null, "account_url" text null, "private_key_id" uuid not null, "eab_kid" varchar(200) null, "created_at" timestamptz not null, constraint "acme_accounts_pkey" primary key ("id"));`
    );
    this.addSql(
      `alter table "acme_accounts" add constraint "acme_accounts_directory_url_unique" unique ("directory_url");`
    );

    this.addSql(
      `create table "products" ("id" varchar(100) not null, "vendor" varchar(100) not null, "name" varchar(200) not null, "validation_level" varchar(2) not null, "wildcard" boolean not null, "multi_domain" boolean not null, "max_validity_days" int not null, "url" text not null, "issuer_type" varchar(50) not null, "builtin" boolean not null, "updated_at" timestamptz not null, constraint "products_pkey" primary key ("id"));`
    );

    this.addSql(
      `create table "ca_issuances" ("id" uuid not null, "ca_id" uuid not null, "serial" varchar(64) not null, "kind" varchar(20) not null, "subject" text not null, "sha256" varchar(64) not null, "not_before" timestamptz not null, "not_after" timestamptz not null, "certificate_id" uuid null, "username" varchar(100) null, "pem" text not null, "revoked_at" timestamptz null, "revocation_reason" varchar(30) null, "issued_at" timestamptz not null, constraint "ca_issuances_pkey" primary key ("id"));`
    );
    this.addSql(`create index "ca_issuances_ca_id_index" on "ca_issuances" ("ca_id");`);
    this.addSql(`alter table "ca_issuances" add constraint "ca_issuances_sha256_unique" unique ("sha256");`);
    this.addSql(
      `alter table "ca_issuances" add constraint "ca_issuances_ca_serial_unique" unique ("ca_id", "serial");`
    );

    this.addSql(
      `create table "secrets" ("id" varchar(200) not null, "sealed" bytea not null, "updated_at" timestamptz not null, constraint "secrets_pkey" primary key ("id"));`
    );

    this.addSql(
      `create table "sent_mail" ("id" uuid not null, "at" timestamptz not null, "template" varchar(50) not null, "to" jsonb not null, "subject" text not null, "body" text not null, "status" varchar(10) not null, "error" text null, "message_id" varchar(300) null, constraint "sent_mail_pkey" primary key ("id"));`
    );
    this.addSql(`create index "sent_mail_at_index" on "sent_mail" ("at");`);

    this.addSql(
      `alter table "acme_accounts" add constraint "acme_accounts_private_key_id_foreign" foreign key ("private_key_id") references "private_keys" ("id") on update cascade on delete restrict;`
    );

    this.addSql(
      `alter table "ca_issuances" add constraint "ca_issuances_ca_id_foreign" foreign key ("ca_id") references "certificate_authorities" ("id") on update cascade on delete restrict;`
    );
    this.addSql(
      `alter table "ca_issuances" add constraint "ca_issuances_certificate_id_foreign" foreign key ("certificate_id") references "certificates" ("id") on update cascade on delete set null;`
    );

    this.addSql(`alter table "audit_log" add constraint "audit_log_prev_hash_unique" unique ("prev_hash");`);

    this.addSql(
      `alter table "certificate_authorities" add column "kind" varchar(20) not null default 'root', add column "chain_pem" jsonb not null default '[]', add column "csr_pem" text null, add column "extensions" jsonb not null default '{}', add column "crl_number" int not null default 0;`
    );
    this.addSql(
      `alter table "certificate_authorities" alter column "certificate_pem" type text using ("certificate_pem"::text);`
    );
    this.addSql(`alter table "certificate_authorities" alter column "certificate_pem" drop not null;`);

    this.addSql(`alter table "certificate_definitions" add column "issuer_config" jsonb not null default '{}';`);

    this.addSql(
      `alter table "certificate_requests" add column "process_mode" varchar(20) not null default 'unattended', add column "awaiting_confirmation" boolean not null default false, add column "last_error" text null, add column "attempts" int not null default 0, add column "next_attempt_at" timestamptz null, add column "issuer_state" jsonb null, add column "certificate_id" uuid null;`
    );
    this.addSql(
      `alter table "certificate_requests" add constraint "certificate_requests_certificate_id_foreign" foreign key ("certificate_id") references "certificates" ("id") on update cascade on delete set null;`
    );
    this.addSql(
      `create index "certificate_requests_next_attempt_at_index" on "certificate_requests" ("next_attempt_at");`
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "acme_accounts" cascade;`);

    this.addSql(`drop table if exists "products" cascade;`);

    this.addSql(`drop table if exists "ca_issuances" cascade;`);

    this.addSql(`drop table if exists "secrets" cascade;`);

    this.addSql(`drop table if exists "sent_mail" cascade;`);

    this.addSql(`alter table "certificate_requests" drop constraint "certificate_requests_certificate_id_foreign";`);

    this.addSql(`alter table "audit_log" drop constraint "audit_log_prev_hash_unique";`);

    this.addSql(
      `alter table "certificate_authorities" drop column "kind", drop column "chain_pem", drop column "csr_pem", drop column "extensions", drop column "crl_number";`
    );

    this.addSql(
      `alter table "certificate_authorities" alter column "certificate_pem" type text using ("certificate_pem"::text);`
    );
    this.addSql(`alter table "certificate_authorities" alter column "certificate_pem" set not null;`);

    this.addSql(`alter table "certificate_definitions" drop column "issuer_config";`);

    this.addSql(`drop index "certificate_requests_next_attempt_at_index";`);
    this.addSql(
      `alter table "certificate_requests" drop column "process_mode", drop column "awaiting_confirmation", drop column "last_error", drop column "attempts", drop column "next_attempt_at", drop column "issuer_state", drop column "certificate_id";`
    );
  }
}
