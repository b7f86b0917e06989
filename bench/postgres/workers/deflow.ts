/** A deflow node process for the benchmark: joins the schema and runs jobs until told to stop. */
import DeFlow from '../../../src/index.js';
import '../steps.js';

const { url, schema } = JSON.parse(process.argv[2] ?? '{}') as { url: string; schema: string };
DeFlow.register({ backend: url, schema });
await DeFlow.getInstance().ready();
process.send?.({ type: 'ready' });
process.on('disconnect', () => {
  void DeFlow.unregister().then(() => process.exit(0));
});
