import { Migration } from '@mikro-orm/migrations';

export class Migration20261125210033_request_resume extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "certificate_requests" add column "resume_status" varchar(30) null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "certificate_requests" drop column "resume_status";`);
  }
}
