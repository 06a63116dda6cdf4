/**
 * Where the fleet layer keeps its state in the store (keys arrive at the
 * store without the configured prefix; the backend adds it). One place, so
 * that SQL views, operators and tests agree on the layout.
 *
 * | state | key / collection / channel | kind |
 * |---|---|---|
 * | breaker state | `breaker:<dependency>` | value, `BreakerRecord` JSON, compare-and-set, no TTL |
 * | half-open probe slots | `breaker-probes:<dependency>:<epoch>` | counter (increment) |
 * | half-open probe successes | `breaker-probe-ok:<dependency>:<epoch>` | counter (increment) |
 * | breaker history | `breaker-transitions` | record collection, `TransitionRecord` JSON |
 * | 429 cooldown | `cooldown:<dependency>` | number (raise: wall-clock deadline) |
 * | rate-limit bucket | `rate-limit:<dependency>` | GCRA state (takePermits) |
 * | kill switch and mode | `control` | value, `ControlRecord` JSON |
 * | change counter | `fleet-sequence` | counter: bumped on every published change |
 * | heartbeats | `fleet-heartbeat:<bucket>` | counter: instances alive in a snapshot period |
 * | instance snapshots | `instances` | record collection, `InstanceSnapshot` JSON |
 * | change notices | channel `fleet` | `FleetMessage` JSON |
 */
export const FLEET_CHANNEL = 'fleet';
export const TRANSITIONS_COLLECTION = 'breaker-transitions';
export const INSTANCES_COLLECTION = 'instances';
export const CONTROL_KEY = 'control';
export const SEQUENCE_KEY = 'fleet-sequence';

export const breakerKey = (dependency: string): string => `breaker:${dependency}`;
export const probeSlotsKey = (dependency: string, epoch: number): string =>
  `breaker-probes:${dependency}:${epoch}`;
export const probeSuccessesKey = (dependency: string, epoch: number): string =>
  `breaker-probe-ok:${dependency}:${epoch}`;
export const cooldownKey = (dependency: string): string => `cooldown:${dependency}`;
export const rateLimitKey = (dependency: string): string => `rate-limit:${dependency}`;
export const heartbeatKey = (bucket: number): string => `fleet-heartbeat:${bucket}`;
