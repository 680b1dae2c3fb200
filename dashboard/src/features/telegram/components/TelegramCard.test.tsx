import { screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { renderWithProviders, stubFetch } from '@/test/utils';
import type { TelegramStatus } from '@/lib/types';
import { TelegramCard } from './TelegramCard';

const base: TelegramStatus = {
  configured: true,
  mode: 'polling',
  bot_username: 'harness_bot',
  chats: 1,
  last_error: null,
  last_error_at: null,
  outbox_pending: 3,
  outbox_failed: 0,
  last_delivery_at: '2026-12-01T10:00:00.000Z',
};

function serve(status: TelegramStatus) {
  stubFetch((url) => (url.pathname === '/api/telegram' ? { body: status } : undefined));
}

describe('Telegram status card', () => {
  it('shows the bot, the mode and the outbox depth', async () => {
    serve(base);
    renderWithProviders(<TelegramCard />);
    expect(await screen.findByText('@harness_bot')).toBeInTheDocument();
    expect(screen.getByText('polling')).toBeInTheDocument();
    expect(screen.getByText('Waiting to send').nextSibling).toHaveTextContent('3');
    expect(screen.queryByRole('alert')).toBeNull();
  });

  it('shows a refused token as an alert', async () => {
    serve({ ...base, bot_username: null, last_error: 'Telegram refused the bot token (401): check TELEGRAM_BOT_TOKEN' });
    renderWithProviders(<TelegramCard />);
    expect(await screen.findByRole('alert')).toHaveTextContent('check TELEGRAM_BOT_TOKEN');
    expect(screen.getByText('not reached yet')).toBeInTheDocument();
  });

  it('says how to turn it on when not configured', async () => {
    serve({ ...base, configured: false, mode: null, bot_username: null, chats: 0, outbox_pending: 0, last_delivery_at: null });
    renderWithProviders(<TelegramCard />);
    expect(await screen.findByText(/Not configured/)).toBeInTheDocument();
  });
});
