import { Migration } from '@mikro-orm/migrations';

export class Migration20261129060847 extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "whatsapp_session" ("id" serial primary key, "usuario_id" int not null, "device_name" varchar(255) not null, "phone_number" varchar(32) null, "status" text check ("status" in ('idle', 'connecting', 'qr', 'connected', 'backoff', 'failed')) not null default 'idle', "desired_state" text check ("desired_state" in ('running', 'stopped')) not null default 'stopped', "auto_reconnect" boolean not null default true, "reconnect_attempts" int not null default 0, "last_reconnect_at" timestamptz null, "proxy_enabled" boolean not null default false, "proxy_url" text null, "last_error_code" int null, "last_error_reason" text null, "last_error_message" text null, "last_error_at" timestamptz null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "connected_at" timestamptz null, "disconnected_at" timestamptz null);`,
    );
    this.addSql(`create index "whatsapp_session_usuario_id_index" on "whatsapp_session" ("usuario_id");`);
    this.addSql(
      `create index "whatsapp_session_desired_state_index" on "whatsapp_session" ("desired_state");`,
    );

    this.addSql(
      `create table "whatsapp_auth_key" ("session_id" int not null, "type" varchar(32) not null, "key_id" varchar(255) not null, "value" bytea not null, "enc_key_id" varchar(16) not null, constraint "whatsapp_auth_key_pkey" primary key ("session_id", "type", "key_id"));`,
    );

    this.addSql(
      `create table "whatsapp_auth_creds" ("session_id" int not null, "value" bytea not null, "enc_key_id" varchar(16) not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "whatsapp_auth_creds_pkey" primary key ("session_id"));`,
    );

    this.addSql(
      `create table "whatsapp_session_event" ("id" bigserial primary key, "session_id" int not null, "at" timestamptz not null, "from" text not null, "to" text not null, "event" text not null, "attempt" int not null, "delay_ms" int null, "reason" text null, "code" int null, "task_id" text null);`,
    );
    this.addSql(
      `create index "whatsapp_session_event_session_id_at_index" on "whatsapp_session_event" ("session_id", "at");`,
    );
    this.addSql(
      `create index "whatsapp_session_event_session_id_task_id_index" on "whatsapp_session_event" ("session_id", "task_id");`,
    );

    this.addSql(
      `alter table "whatsapp_auth_key" add constraint "whatsapp_auth_key_session_id_foreign" foreign key ("session_id") references "whatsapp_session" ("id") on update cascade on delete cascade;`,
    );

    this.addSql(
      `alter table "whatsapp_auth_creds" add constraint "whatsapp_auth_creds_session_id_foreign" foreign key ("session_id") references "whatsapp_session" ("id") on update cascade on delete cascade;`,
    );

    this.addSql(
      `alter table "whatsapp_session_event" add constraint "whatsapp_session_event_session_id_foreign" foreign key ("session_id") references "whatsapp_session" ("id") on update cascade on delete cascade;`,
    );
  }
}
