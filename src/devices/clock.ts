/**
 * Time as the chips see it. Timers never read the host's clock themselves: the machine hands
 * them a virtual clock (guest time, which stops while the VM is paused) and, for the RTC, a
 * wall clock. Tests inject clocks they step by hand, so every timing is deterministic.
 */

/** Nanoseconds in one second, as a bigint. */
export const NS_PER_SECOND = 1_000_000_000n;

/** The guest's monotonic time. */
export interface VirtualClock {
  /** Nanoseconds of virtual time since the clock started; never decreases. */
  now(): bigint;
}

/** Calendar time for a real-time clock. */
export interface WallClock {
  /** Seconds since 1970-01-01 00:00:00 UTC; may carry a fraction. */
  now(): number;
}

/**
 * How many periods of a `hz` clock have ended by virtual time `ns`: the index of the clock
 * edge last seen, counting from edge 0 at time 0.
 */
export function ticksAt(ns: bigint, hz: bigint): number {
  return Number((ns * hz) / NS_PER_SECOND);
}

/** The first virtual nanosecond at which {@link ticksAt} reaches `tick`: when edge `tick` comes. */
export function timeOfTick(tick: number, hz: bigint): bigint {
  return (BigInt(tick) * NS_PER_SECOND + hz - 1n) / hz;
}
