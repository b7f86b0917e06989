/** Debug channels of the pool: enable with `DEBUG=deflow:pool*`. */
import createDebug from 'debug';

export const logFarm = createDebug('deflow:pool');
export const logWorker = createDebug('deflow:pool:worker');
export const logCall = createDebug('deflow:pool:call');
