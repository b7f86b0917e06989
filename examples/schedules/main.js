// main.js — a cron schedule: each tick starts the 'report' definition once, on whichever node
import { setTimeout as sleep } from 'node:timers/promises';
import DeFlow, { WorkFlow } from 'deflow';
import './workflows/report.js'; // nodes fire only the schedules whose definition they loaded

DeFlow.register(); // embedded SQLite under ./.deflow/; this process is a node, so it fires ticks

// Every second here, to see it run; '0 3 * * *' with timezone 'Europe/Paris' is every night at 3.
await DeFlow.schedule('every-second-report', { cron: '* * * * * *', workflow: 'report', input: { period: 'last second' }, overlap: 'allow' });
const [schedule] = await DeFlow.schedules();
console.log(`scheduled ${schedule.name}: ${schedule.cron} -> ${schedule.workflow}, next at ${schedule.nextRun.toISOString()}`);

// Each tick's workflow has the id schedule:<name>:<tick> and the key schedule:<name>.
let workflows = [];
while (workflows.length < 3) {
  await sleep(200);
  workflows = await WorkFlow.getByKey('schedule:every-second-report');
}
await DeFlow.unschedule('every-second-report');
const ticks = workflows.map((w) => Date.parse(w.id.slice('schedule:every-second-report:'.length))).sort((a, b) => a - b);
console.log(`${ticks.length} ticks, one workflow each, a second apart: ${ticks.every((tick, i) => i === 0 || tick - ticks[i - 1] === 1000)}`);
const result = await workflows[0].done();
console.log(result.steps[0].tasks[0].result); // summary for last second
await DeFlow.unregister();
