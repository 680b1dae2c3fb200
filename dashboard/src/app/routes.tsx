// The route table, and where features are composed: widgets of one feature are handed to
// another's page as slots, so features never import each other.
import { lazy, Suspense } from 'react';
import { Navigate, Route, Routes } from 'react-router';
import { AgentCards } from '@/features/agents/components/AgentCards';
import { AgentsPage } from '@/features/agents/components/AgentsPage';
import { EventFeed } from '@/features/events/components/EventFeed';
import { EventsPage } from '@/features/events/components/EventsPage';
import { OverviewPage } from '@/features/overview/components/OverviewPage';
import { PausedBanner } from '@/features/overview/components/PausedBanner';
import { RolesPage } from '@/features/roles/components/RolesPage';
import { AgentActivity } from '@/features/sessions/components/AgentActivity';
import { AttemptSummary } from '@/features/sessions/components/AttemptSummary';
import { SessionTable } from '@/features/sessions/components/SessionTable';
import { SessionsPage } from '@/features/sessions/components/SessionsPage';
import { SessionViewPage } from '@/features/sessions/components/SessionViewPage';
import { SettingsPage } from '@/features/settings/components/SettingsPage';
import { TaskDetailPage } from '@/features/tasks/components/TaskDetailPage';
import { TaskTitleLink } from '@/features/tasks/components/TaskTitleLink';
import { TasksPage } from '@/features/tasks/components/TasksPage';
import { TelegramCard } from '@/features/telegram/components/TelegramCard';
import { BudgetGauge } from '@/features/usage/components/BudgetGauge';

// The charts library is large; load it only when the Usage page is opened.
const UsagePage = lazy(() => import('@/features/usage/components/UsagePage').then((m) => ({ default: m.UsagePage })));

const overview = (
  <OverviewPage
    agents={<AgentCards renderActivity={(a) => <AgentActivity agentId={a.id} />} />}
    runningSessions={<SessionTable filters={{ status: 'running' }} caption="Running sessions" />}
    budget={<BudgetGauge />}
    events={<EventFeed height={320} />}
    telegram={<TelegramCard />}
  />
);

export function AppRoutes() {
  return (
    <Routes>
      <Route path="/" element={overview} />
      <Route path="/tasks" element={<TasksPage banner={<PausedBanner />} />} />
      <Route
        path="/tasks/:taskId"
        element={
          <TaskDetailPage
            renderSessions={(id) => <SessionTable filters={{ task_id: id }} caption="Sessions of this task" />}
            renderAttempts={(id) => <AttemptSummary taskId={id} />}
          />
        }
      />
      <Route path="/sessions" element={<SessionsPage />} />
      <Route path="/sessions/:sessionId" element={<SessionViewPage renderTask={(id) => <TaskTitleLink taskId={id} />} />} />
      <Route path="/agents" element={<AgentsPage />} />
      <Route path="/roles" element={<RolesPage />} />
      <Route path="/events" element={<EventsPage />} />
      <Route path="/settings" element={<SettingsPage />} />
      <Route path="/usage" element={<Suspense fallback={<p role="status">Loading charts…</p>}><UsagePage /></Suspense>} />
      <Route path="/login" element={<Navigate to="/" replace />} />
      <Route path="*" element={<p className="page">Page not found.</p>} />
    </Routes>
  );
}
