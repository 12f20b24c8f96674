// An orbit camera around a target point. Camera space: x right, y up, z forward
// (depth grows away from the eye), the same convention as the Python preview.

export const UP_AXES = {
  y: [0, 1, 0],
  "-y": [0, -1, 0],
  z: [0, 0, 1],
  "-z": [0, 0, -1],
};

const sub = (a, b) => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
const add = (a, b) => [a[0] + b[0], a[1] + b[1], a[2] + b[2]];
const scale = (a, s) => [a[0] * s, a[1] * s, a[2] * s];
const dot = (a, b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
const cross = (a, b) => [
  a[1] * b[2] - a[2] * b[1],
  a[2] * b[0] - a[0] * b[2],
  a[0] * b[1] - a[1] * b[0],
];
const normalize = (a) => scale(a, 1 / Math.max(Math.hypot(a[0], a[1], a[2]), 1e-12));

export class OrbitCamera {
  constructor({ center, radius, up = "y", fov = 45 }) {
    this.home = { center: [...center], radius: Math.max(radius, 1e-3) };
    this.fov = fov;
    this.setUp(up);
  }

  // A new up axis starts from the default view (front, slightly above).
  setUp(up) {
    this.up = UP_AXES[up] ? up : "y";
    this.reset();
  }

  reset() {
    this.target = [...this.home.center];
    const half = (this.fov * Math.PI) / 360;
    this.distance = (this.home.radius / Math.tan(half)) * 1.15;
    this.yaw = Math.PI / 6;
    this.pitch = Math.PI / 9;
  }

  // The world-space basis of the default front view for the current up axis.
  basis() {
    const up = UP_AXES[this.up];
    const front = Math.abs(up[2]) < 0.5 ? [0, 0, 1] : [0, -1, 0];
    return { up, front, side: cross(up, front) };
  }

  eye() {
    const { up, front, side } = this.basis();
    const c = Math.cos(this.pitch);
    const dir = add(
      add(scale(front, c * Math.cos(this.yaw)), scale(side, c * Math.sin(this.yaw))),
      scale(up, Math.sin(this.pitch)),
    );
    return add(this.target, scale(dir, this.distance));
  }

  // Rows right, up, forward, and the eye: world -> camera is R (p - eye).
  view() {
    const eye = this.eye();
    const forward = normalize(sub(this.target, eye));
    const right = normalize(cross(forward, UP_AXES[this.up]));
    const camUp = cross(right, forward);
    return { eye, right, up: camUp, forward };
  }

  orbit(dx, dy) {
    this.yaw -= dx * 0.006;
    const limit = Math.PI / 2 - 0.01;
    this.pitch = Math.min(limit, Math.max(-limit, this.pitch + dy * 0.006));
  }

  pan(dx, dy, viewportHeight) {
    const { right, up } = this.view();
    const perPixel = (2 * this.distance * Math.tan((this.fov * Math.PI) / 360)) / viewportHeight;
    this.target = add(this.target, add(scale(right, -dx * perPixel), scale(up, dy * perPixel)));
  }

  zoom(factor) {
    const r = this.home.radius;
    this.distance = Math.min(r * 100, Math.max(r * 0.01, this.distance * factor));
  }

  // A 4x4 column-major matrix for GLSL: camera coordinates (x right, y up, z forward).
  viewMatrix() {
    const { eye, right, up, forward } = this.view();
    return new Float32Array([
      right[0], up[0], forward[0], 0,
      right[1], up[1], forward[1], 0,
      right[2], up[2], forward[2], 0,
      -dot(right, eye), -dot(up, eye), -dot(forward, eye), 1,
    ]);
  }
}
