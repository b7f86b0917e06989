// Monte-Carlo estimate of pi: how many of `points` random points fall inside the unit circle.
export default function insideCircle(points) {
  let inside = 0;
  for (let i = 0; i < points; i++) {
    const x = Math.random();
    const y = Math.random();
    if (x * x + y * y <= 1) inside++;
  }
  return inside;
}
