/**
 * Rate limits as stored in the prefix's slot: their definitions (`ratelimits` HASH name ->
 * "<max>|<per ms>"), and each one's log of starts (lua/global/rate-take.lua, which claims use).
 */
import type { RateLimit } from '../backend.js';
import type { RedisCore } from './core.js';

export class RateLimits {
  constructor(private readonly core: RedisCore) {}

  async set(limit: RateLimit): Promise<void> {
    await this.core.guard(this.core.client.hset(this.core.keys.global.ratelimits, limit.name, `${limit.max}|${limit.perMs}`), 'setting a rate limit');
  }

  async list(): Promise<RateLimit[]> {
    const all = await this.core.guard(this.core.client.hgetall(this.core.keys.global.ratelimits), 'listing rate limits');
    const limits: RateLimit[] = [];
    for (const [name, value] of Object.entries(all)) {
      const match = /^(\d+)\|(\d+)$/.exec(value);
      if (match !== null) limits.push({ name, max: Number(match[1]), perMs: Number(match[2]) });
    }
    // Binary order, as the other backends list them.
    return limits.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async remove(name: string): Promise<boolean> {
    const g = this.core.keys.global;
    const replies = await this.core.guard(
      this.core.client.multi().hdel(g.ratelimits, name).del(this.core.keys.rateStarts(name)).hdel(g.rateused, name).exec(),
      'removing a rate limit',
    );
    const first = replies?.[0];
    return first !== undefined && first[0] === null && Number(first[1]) > 0;
  }
}
