import { Migration } from '@mikro-orm/migrations';

export class Migration20261125205921_open_request_guard extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create unique index "certificate_requests_one_open_per_definition" on "certificate_requests" ("definition_id") where "status" not in ('completed', 'cancelled', 'failed');`
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop index if exists "certificate_requests_one_open_per_definition";`);
  }
}
