/** Worker-process side of the benchmark: reports how many jobs it ran, at most every 20 ms. */
export function reportProgress(): { add(n: number): void } {
  let pending = 0;
  let timer: NodeJS.Timeout | null = null;
  const flush = (): void => {
    timer = null;
    process.send?.({ type: 'progress', done: pending });
    pending = 0;
  };
  return {
    add(n) {
      pending += n;
      timer ??= setTimeout(flush, 20);
    },
  };
}
