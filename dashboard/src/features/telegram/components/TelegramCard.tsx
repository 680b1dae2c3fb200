// The Telegram bot at a glance: configured or not, how updates arrive, the last error,
// what waits in the outbox, and when Telegram last accepted a message.
import { ErrorMessage } from '@/components/ErrorMessage';
import { formatTime } from '@/lib/format';
import { useTelegram } from '../api/get-telegram';

export function TelegramCard() {
  const q = useTelegram();
  if (q.isError) return <ErrorMessage error={q.error} title="Telegram" />;
  if (!q.data) return <p role="status">Loading Telegram status…</p>;
  const t = q.data;
  if (!t.configured) {
    return (
      <p className="muted">
        Not configured. Set <code>TELEGRAM_BOT_TOKEN</code> and <code>TELEGRAM_CHAT_ID</code> (see docs/TELEGRAM.md).
      </p>
    );
  }
  return (
    <div className="telegram-status">
      {t.last_error ? (
        <p role="alert" className="error">
          {t.last_error}
          {t.last_error_at ? <span className="muted small"> ({formatTime(t.last_error_at)})</span> : null}
        </p>
      ) : null}
      <dl className="facts">
        <dt>Bot</dt>
        <dd>{t.bot_username ? `@${t.bot_username}` : <span className="muted">not reached yet</span>}</dd>
        <dt>Mode</dt>
        <dd>{t.mode}</dd>
        <dt>Chats</dt>
        <dd>{t.chats}</dd>
        <dt>Waiting to send</dt>
        <dd>{t.outbox_pending}</dd>
        <dt>Refused</dt>
        <dd>{t.outbox_failed}</dd>
        <dt>Last delivery</dt>
        <dd>{t.last_delivery_at ? formatTime(t.last_delivery_at) : <span className="muted">none yet</span>}</dd>
      </dl>
    </div>
  );
}
