/** Farms not yet killed, so `killAllFarms()` (and tests' leak checks) can find them. */

export interface Killable {
  kill(): Promise<void>;
}

const live = new Set<Killable>();

export function registerFarm(farm: Killable): void {
  live.add(farm);
}

export function unregisterFarm(farm: Killable): void {
  live.delete(farm);
}

/** How many farms are alive (not killed) in this process. */
export function liveFarmCount(): number {
  return live.size;
}

/** Kills every farm of this process; resolves once all their workers have exited. */
export async function killAllFarms(): Promise<void> {
  await Promise.all([...live].map((farm) => farm.kill()));
}
