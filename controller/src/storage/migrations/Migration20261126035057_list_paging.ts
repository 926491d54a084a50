import { Migration } from '@mikro-orm/migrations';

/**
 * Issue 6, lists stay fast with 100,000 certificates: ordered indexes for the paged lists (W3, W5, W7, deployments)
 * and trigram indexes for the substring searches of W1 and W3. pg_trgm ships with PostgreSQL (contrib) and is a
 * trusted extension: the database owner may create it.
 */
export class Migration20261126035057_list_paging extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create extension if not exists pg_trgm;`);
    this.addSql(`create index "private_keys_created_at_id_idx" on "private_keys" ("created_at", "id");`);

    this.addSql(
      `create index "certificate_definitions_name_trgm_idx" on "certificate_definitions" using gin ("name" gin_trgm_ops);`
    );
    this.addSql(
      `create index "certificate_definitions_common_name_trgm_idx" on "certificate_definitions" using gin (("subject"->>'commonName') gin_trgm_ops);`
    );

    this.addSql(`create index "certificates_not_after_id_idx" on "certificates" ("not_after", "id");`);
    this.addSql(
      `create index "certificates_current_not_after_id_idx" on "certificates" ("not_after", "id") include ("definition_id") where "is_current";`
    );
    this.addSql(`create index "certificates_subject_trgm_idx" on "certificates" using gin ("subject" gin_trgm_ops);`);
    this.addSql(`create index "certificates_sans_trgm_idx" on "certificates" using gin (("sans"::text) gin_trgm_ops);`);

    this.addSql(`create index "deployments_created_at_id_idx" on "deployments" ("created_at", "id");`);

    this.addSql(`create index "sent_mail_at_id_idx" on "sent_mail" ("at", "id");`);
    this.addSql(`create index "sent_mail_status_at_id_idx" on "sent_mail" ("status", "at", "id");`);
    this.addSql(`create index "sent_mail_template_at_id_idx" on "sent_mail" ("template", "at", "id");`);
    this.addSql(`create index "certificate_definitions_name_id_idx" on "certificate_definitions" ("name", "id");`);
    this.addSql(
      `create index "certificate_definitions_renewal_lead_days_idx" on "certificate_definitions" ("renewal_lead_days", "id");`
    );
    this.addSql(
      `create index "certificate_definitions_operation_mode_name_idx" on "certificate_definitions" ("operation_mode", "name", "id");`
    );
    this.addSql(
      `create index "certificate_definitions_process_mode_name_idx" on "certificate_definitions" ("process_mode", "name", "id");`
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop index "certificate_definitions_name_trgm_idx";`);
    this.addSql(`drop index "certificate_definitions_common_name_trgm_idx";`);

    this.addSql(`drop index "certificates_not_after_id_idx";`);
    this.addSql(`drop index "certificates_current_not_after_id_idx";`);
    this.addSql(`drop index "certificates_subject_trgm_idx";`);
    this.addSql(`drop index "certificates_sans_trgm_idx";`);

    this.addSql(`drop index "deployments_created_at_id_idx";`);

    this.addSql(`drop index "private_keys_created_at_id_idx";`);

    this.addSql(`drop index "sent_mail_at_id_idx";`);
    this.addSql(`drop index "sent_mail_status_at_id_idx";`);
    this.addSql(`drop index "sent_mail_template_at_id_idx";`);
    this.addSql(`drop index "certificate_definitions_name_id_idx";`);
    this.addSql(`drop index "certificate_definitions_renewal_lead_days_idx";`);
    this.addSql(`drop index "certificate_definitions_operation_mode_name_idx";`);
    this.addSql(`drop index "certificate_definitions_process_mode_name_idx";`);
  }
}
