export default function insideCircle(points: number): number;
