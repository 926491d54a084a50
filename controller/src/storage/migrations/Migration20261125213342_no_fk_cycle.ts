import { Migration } from '@mikro-orm/migrations';

export class Migration20261125213342_no_fk_cycle extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "certificate_requests" drop constraint "certificate_requests_certificate_id_foreign";`);
  }

  override async down(): Promise<void> {
    this.addSql(
      `alter table "certificate_requests" add constraint "certificate_requests_certificate_id_foreign" foreign key ("certificate_id") references "certificates" ("id") on update cascade on delete set null;`
    );
  }
}
