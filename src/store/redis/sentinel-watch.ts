import type { Logger } from '../../log';
import type { RedisPubSub } from './pubsub';

/**
 * Sentinel failover detection. After a failover the old master keeps
 * accepting writes until Sentinel reconfigures it (seconds later), and those
 * writes are then lost; so as soon as a sentinel announces `+switch-master`
 * for our master, the store drops its connections and the next call (or the
 * subscriber's reconnect) resolves the new master through the sentinels.
 *
 * The watch starts when the data connection first becomes ready (an idle
 * store opens no connection at all) and again after a failed attempt.
 */
export function watchSentinelFailovers(options: {
  readonly dataClient: { on(event: 'ready', listener: () => void): unknown };
  /** Pub/sub over connections to the sentinels (createSentinelWatcherClient). */
  readonly sentinels: RedisPubSub;
  readonly masterName: string;
  readonly isClosed: () => boolean;
  readonly onSwitch: () => void;
  readonly logger?: Logger | undefined;
}): void {
  let watching = false;
  options.dataClient.on('ready', () => {
    if (watching || options.isClosed()) return;
    watching = true;
    options.sentinels
      .subscribe('+switch-master', message => {
        // "<master name> <old ip> <old port> <new ip> <new port>"
        if (message.split(' ')[0] !== options.masterName) return;
        options.logger?.info(
          `Redis Sentinel switched master ${options.masterName}: reconnecting to the new master`,
        );
        options.onSwitch();
      })
      .catch(() => {
        watching = false;
      });
  });
}
