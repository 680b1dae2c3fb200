// The end-to-end scenarios, in the order they run. Each starts its own `harness serve`
// on a temp database.
import pages from './scenarios/pages.mjs';
import tasks from './scenarios/tasks.mjs';
import board from './scenarios/board.mjs';
import scale from './scenarios/scale.mjs';
import operations from './scenarios/operations.mjs';
import auth from './scenarios/auth.mjs';
import engine from './scenarios/engine.mjs';
import gateway from './scenarios/gateway.mjs';
import roles from './scenarios/roles.mjs';
import review from './scenarios/review.mjs';

export const tests = [...pages, ...tasks, ...board, ...scale, ...operations, ...auth, ...engine, ...gateway, ...roles, ...review];
