// The same trivial task in worker-farm's callback style.
module.exports = function increment(x, callback) {
  callback(null, x + 1);
};
