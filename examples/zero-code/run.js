'use strict';
// `npm run demo`: start the flaky upstream, then the app under
// `node --require baldur/register` with Baldur's log at info level, so the
// breaker's transitions show up between the app's own lines.
const { spawn } = require('node:child_process');
const { join } = require('node:path');

const upstream = spawn(process.execPath, [join(__dirname, 'upstream.js')], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
upstream.stdout.once('data', chunk => {
  const { port } = JSON.parse(chunk.toString().split('\n')[0]);
  console.log(
    `upstream on 127.0.0.1:${port}: healthy for 2 s, then 503s and dropped connections for 4 s, then healthy\n`,
  );
  const app = spawn(process.execPath, ['--require', 'baldur/register', join(__dirname, 'app.js')], {
    stdio: 'inherit',
    cwd: __dirname,
    env: {
      ...process.env,
      QUOTES_URL: `http://127.0.0.1:${port}`,
      BALDUR_LOG_LEVEL: 'info',
      BALDUR_OTEL_SDK: 'off',
      BALDUR_CB_FAILURE_THRESHOLD: '3',
      BALDUR_CB_RECOVERY_TIMEOUT: '1s',
      BALDUR_RETRY_MAX_ATTEMPTS: '2',
      BALDUR_RETRY_BASE_DELAY: '50ms',
    },
  });
  app.on('exit', code => {
    upstream.kill('SIGTERM');
    process.exitCode = code ?? 1;
  });
});
