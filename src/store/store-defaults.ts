/** Default budget of one shared-store call (`store.timeout`, `BALDUR_STORE_TIMEOUT`). */
export const STORE_TIMEOUT_DEFAULT_MS = 250;
