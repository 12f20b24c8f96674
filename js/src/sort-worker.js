// Depth sorting, back to front, off the main thread so orbiting never blocks the page.
// The worker is started from a Blob URL built from the pure function below, so nothing
// is fetched over the network; if a page forbids workers, the sort runs inline.

// A 16-bit counting sort of splat indices by depth along `forward` (farthest first).
export function sortBackToFront(positions, eye, forward) {
  const count = positions.length / 3;
  const depths = new Float32Array(count);
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < count; i++) {
    const j = 3 * i;
    const d =
      (positions[j] - eye[0]) * forward[0] +
      (positions[j + 1] - eye[1]) * forward[1] +
      (positions[j + 2] - eye[2]) * forward[2];
    depths[i] = d;
    if (d < min) min = d;
    if (d > max) max = d;
  }
  const buckets = 65536;
  const scale = max > min ? (buckets - 1) / (max - min) : 0;
  const keys = new Uint16Array(count);
  const counts = new Uint32Array(buckets);
  for (let i = 0; i < count; i++) {
    const k = ((max - depths[i]) * scale) | 0;
    keys[i] = k;
    counts[k]++;
  }
  for (let k = 1; k < buckets; k++) counts[k] += counts[k - 1];
  const order = new Uint32Array(count);
  for (let i = count - 1; i >= 0; i--) order[--counts[keys[i]]] = i;
  return order;
}

const WORKER_SOURCE = `
const sortBackToFront = ${sortBackToFront.toString()};
let positions = null;
self.onmessage = (event) => {
  const msg = event.data;
  if (msg.positions) positions = msg.positions;
  if (msg.eye && positions) {
    const order = sortBackToFront(positions, msg.eye, msg.forward);
    self.postMessage({ order }, [order.buffer]);
  }
};
`;

// `request(eye, forward)` asks for a new order; `onOrder(order)` receives it. While a
// sort runs, only the latest request is kept.
export function createSorter(positions, onOrder) {
  let worker = null;
  try {
    const url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: "text/javascript" }));
    worker = new Worker(url);
    URL.revokeObjectURL(url);
    worker.postMessage({ positions });
  } catch (err) {
    worker = null;
  }
  let busy = false;
  let pending = null;
  if (worker) {
    worker.onmessage = (event) => {
      busy = false;
      onOrder(event.data.order);
      if (pending) request(pending.eye, pending.forward);
    };
    worker.onerror = () => {
      worker.terminate();
      worker = null;
      busy = false;
      if (pending) request(pending.eye, pending.forward);
    };
  }
  function request(eye, forward) {
    if (!worker) {
      pending = null;
      onOrder(sortBackToFront(positions, eye, forward));
      return;
    }
    if (busy) {
      pending = { eye, forward };
      return;
    }
    pending = null;
    busy = true;
    worker.postMessage({ eye, forward });
  }
  return {
    request,
    inWorker: () => worker !== null,
    dispose: () => worker && worker.terminate(),
  };
}
