// The same trivial task, registered the way workerpool expects.
const workerpool = require('workerpool');

workerpool.worker({ increment: (x) => x + 1 });
