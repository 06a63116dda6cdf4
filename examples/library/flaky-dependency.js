'use strict';
// Library API demo: a dependency that fails for a while and recovers. Watch the
// breaker open, calls fail fast while it is open, probes go through after the
// recovery timeout, and the breaker close again. Run: node examples/library/flaky-dependency.js
const { protect, events, status, isBaldurError } = require('baldur');

const startedAt = Date.now();
const elapsed = () => `${((Date.now() - startedAt) / 1000).toFixed(1).padStart(4)}s`;
const outageEndsAt = startedAt + 2500;

// Stand-in for a network call: fails during the outage, succeeds afterwards.
async function fetchQuote(symbol) {
  await new Promise(resolve => setTimeout(resolve, 20));
  if (Date.now() < outageEndsAt)
    throw Object.assign(new Error('upstream unavailable'), { code: 'ECONNRESET' });
  return { symbol, price: 42 };
}

const getQuote = protect('quotes', fetchQuote, {
  circuitBreaker: { failureThreshold: 3, recoveryTimeout: '1s', successThreshold: 2 },
  retry: { maxAttempts: 2, baseDelay: '50ms' },
  timeout: '500ms',
});

events.on('circuit_breaker.state_change', e =>
  console.log(`${elapsed()}  breaker ${e.from} -> ${e.to} (${e.reason})`),
);
events.on('retry.scheduled', e =>
  console.log(`${elapsed()}  retry after ${Math.round(e.delayMs)} ms`),
);

async function main() {
  const seen = {};
  while (Date.now() - startedAt < 5000) {
    try {
      const quote = await getQuote('ACME');
      seen.ok = (seen.ok ?? 0) + 1;
      console.log(`${elapsed()}  ok ${JSON.stringify(quote)}`);
    } catch (error) {
      const label = isBaldurError(error) ? error.code : error.message;
      seen[label] = (seen[label] ?? 0) + 1;
      console.log(`${elapsed()}  failed: ${label}`);
    }
    await new Promise(resolve => setTimeout(resolve, 150));
  }
  const { calls, circuitBreaker } = status().pipelines.find(p => p.name === 'quotes');
  console.log('\nwhat the app saw:', seen);
  console.log('breaker state:', circuitBreaker.state, '| calls:', calls);
}

main().catch(error => {
  console.error(error);
  process.exit(1);
});
