import { useState } from 'react';
import { QueryClientProvider } from '@tanstack/react-query';
import { BrowserRouter } from 'react-router';
import { AuthGate } from '@/features/auth/components/AuthGate';
import { LiveProvider } from './live-provider';
import { createQueryClient } from './query-client';
import { AppRoutes } from './routes';
import { Shell } from './Shell';

export function App() {
  const [qc] = useState(createQueryClient);
  return (
    <QueryClientProvider client={qc}>
      <BrowserRouter>
        <AuthGate>
          {(authRequired) => (
            <LiveProvider enabled>
              <Shell authRequired={authRequired}>
                <AppRoutes />
              </Shell>
            </LiveProvider>
          )}
        </AuthGate>
      </BrowserRouter>
    </QueryClientProvider>
  );
}
