// WebGL2 rendering of anisotropic Gaussian splats: one instanced quad per splat, drawn
// back to front (the order comes from the sorter) with premultiplied alpha blending.
//
// Splat data lives in one RGBA32UI texture, two texels per splat, exactly as Python
// packs it (splat/viewer.py): texel 0 = position x, y, z as float bits + RGBA8 colour;
// texel 1 = the 3D covariance's six entries as three half-float pairs.

const TEXELS_PER_ROW = 4096; // two per splat: 2048 splats per row

const VERTEX = `#version 300 es
precision highp float;
precision highp int;
precision highp usampler2D;

uniform usampler2D u_data;
uniform mat4 u_view;
uniform vec2 u_focal;      // pixels
uniform vec2 u_viewport;   // pixels
uniform float u_covUnit;   // covariance entries are stored divided by this

in vec2 a_corner;
in uint a_index;

out vec4 v_color;
out vec2 v_offset;

void main() {
  ivec2 texel = ivec2(int(a_index & 2047u) * 2, int(a_index >> 11));
  uvec4 d0 = texelFetch(u_data, texel, 0);
  vec4 cam = u_view * vec4(uintBitsToFloat(d0.xyz), 1.0);
  float z = cam.z;
  vec2 center = u_focal * cam.xy / z;  // pixels from the viewport centre
  vec2 limit = 0.65 * u_viewport + 64.0;
  if (z < 1e-3 || abs(center.x) > limit.x || abs(center.y) > limit.y) {
    gl_Position = vec4(0.0, 0.0, 2.0, 1.0);  // behind the eye or far off screen
    return;
  }
  uvec4 d1 = texelFetch(u_data, texel + ivec2(1, 0), 0);
  vec2 c01 = unpackHalf2x16(d1.x);
  vec2 c23 = unpackHalf2x16(d1.y);
  vec2 c45 = unpackHalf2x16(d1.z);
  mat3 sigma = u_covUnit * mat3(
    c01.x, c01.y, c23.x,
    c01.y, c23.y, c45.x,
    c23.x, c45.x, c45.y);
  // Jacobian of the perspective projection at the splat centre (columns for GLSL).
  mat3 J = mat3(
    u_focal.x / z, 0.0, 0.0,
    0.0, u_focal.y / z, 0.0,
    -u_focal.x * cam.x / (z * z), -u_focal.y * cam.y / (z * z), 0.0);
  mat3 W = transpose(mat3(u_view));
  mat3 T = J * transpose(W);
  mat3 cov = T * sigma * transpose(T);
  float a = cov[0][0] + 0.3;  // a little blur keeps tiny splats at least a pixel wide
  float b = cov[0][1];
  float c = cov[1][1] + 0.3;
  float mid = 0.5 * (a + c);
  float radius = length(vec2(0.5 * (a - c), b));
  float l1 = mid + radius;
  float l2 = max(mid - radius, 0.1);
  vec2 axis = abs(b) > 1e-6 ? normalize(vec2(b, l1 - a)) : (a >= c ? vec2(1.0, 0.0) : vec2(0.0, 1.0));
  vec2 major = min(3.0 * sqrt(l1), 1024.0) * axis;
  vec2 minor = min(3.0 * sqrt(l2), 1024.0) * vec2(-axis.y, axis.x);
  vec2 pixel = center + a_corner.x * major + a_corner.y * minor;
  gl_Position = vec4(2.0 * pixel / u_viewport, 0.0, 1.0);
  uint rgba = d0.w;
  v_color = vec4(float(rgba & 255u), float((rgba >> 8) & 255u), float((rgba >> 16) & 255u),
                 float(rgba >> 24)) / 255.0;
  v_offset = 3.0 * a_corner;  // in standard deviations
}
`;

const FRAGMENT = `#version 300 es
precision highp float;
in vec4 v_color;
in vec2 v_offset;
out vec4 fragColor;
void main() {
  float r2 = dot(v_offset, v_offset);
  if (r2 > 9.0) discard;
  float alpha = min(0.99, v_color.a * exp(-0.5 * r2));
  if (alpha < 1.0 / 255.0) discard;
  fragColor = vec4(v_color.rgb * alpha, alpha);
}
`;

function compile(gl, type, source) {
  const shader = gl.createShader(type);
  gl.shaderSource(shader, source);
  gl.compileShader(shader);
  if (!gl.getShaderParameter(shader, gl.COMPILE_STATUS)) {
    throw new Error(`shader: ${gl.getShaderInfoLog(shader)}`);
  }
  return shader;
}

export function createRenderer(canvas, packed, count) {
  const gl = canvas.getContext("webgl2", {
    antialias: false,
    depth: false,
    premultipliedAlpha: true,
    preserveDrawingBuffer: true, // the picture stays readable (tests, "save image as")
  });
  if (!gl) throw new Error("WebGL2 is not available in this browser");

  const program = gl.createProgram();
  gl.attachShader(program, compile(gl, gl.VERTEX_SHADER, VERTEX));
  gl.attachShader(program, compile(gl, gl.FRAGMENT_SHADER, FRAGMENT));
  gl.linkProgram(program);
  if (!gl.getProgramParameter(program, gl.LINK_STATUS)) {
    throw new Error(`program: ${gl.getProgramInfoLog(program)}`);
  }
  gl.useProgram(program);
  const uniform = (name) => gl.getUniformLocation(program, name);

  // Splat data texture (rows padded to the full width).
  const rows = Math.max(1, Math.ceil((count * 2) / TEXELS_PER_ROW));
  const texels = new Uint32Array(rows * TEXELS_PER_ROW * 4);
  texels.set(packed.subarray(0, count * 8));
  const texture = gl.createTexture();
  gl.bindTexture(gl.TEXTURE_2D, texture);
  gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA32UI, TEXELS_PER_ROW, rows, 0, gl.RGBA_INTEGER,
    gl.UNSIGNED_INT, texels);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.NEAREST);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.NEAREST);
  gl.uniform1i(uniform("u_data"), 0);

  const vao = gl.createVertexArray();
  gl.bindVertexArray(vao);
  const corners = gl.createBuffer();
  gl.bindBuffer(gl.ARRAY_BUFFER, corners);
  gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([-1, -1, 1, -1, -1, 1, 1, 1]), gl.STATIC_DRAW);
  const cornerLoc = gl.getAttribLocation(program, "a_corner");
  gl.enableVertexAttribArray(cornerLoc);
  gl.vertexAttribPointer(cornerLoc, 2, gl.FLOAT, false, 0, 0);

  const indices = gl.createBuffer();
  gl.bindBuffer(gl.ARRAY_BUFFER, indices);
  gl.bufferData(gl.ARRAY_BUFFER, count * 4, gl.DYNAMIC_DRAW);
  const indexLoc = gl.getAttribLocation(program, "a_index");
  gl.enableVertexAttribArray(indexLoc);
  gl.vertexAttribIPointer(indexLoc, 1, gl.UNSIGNED_INT, 0, 0);
  gl.vertexAttribDivisor(indexLoc, 1);

  gl.disable(gl.DEPTH_TEST);
  gl.enable(gl.BLEND);
  gl.blendFunc(gl.ONE, gl.ONE_MINUS_SRC_ALPHA);

  let ordered = 0; // how many indices the current order holds

  return {
    setOrder(order) {
      gl.bindBuffer(gl.ARRAY_BUFFER, indices);
      gl.bufferSubData(gl.ARRAY_BUFFER, 0, order);
      ordered = order.length;
    },
    draw(camera, covUnit, background) {
      const width = canvas.width;
      const height = canvas.height;
      gl.viewport(0, 0, width, height);
      gl.clearColor(background[0], background[1], background[2], 1);
      gl.clear(gl.COLOR_BUFFER_BIT);
      if (!ordered) return;
      const focal = height / 2 / Math.tan((camera.fov * Math.PI) / 360);
      gl.useProgram(program);
      gl.bindVertexArray(vao);
      gl.activeTexture(gl.TEXTURE0);
      gl.bindTexture(gl.TEXTURE_2D, texture);
      gl.uniformMatrix4fv(uniform("u_view"), false, camera.viewMatrix());
      gl.uniform2f(uniform("u_focal"), focal, focal);
      gl.uniform2f(uniform("u_viewport"), width, height);
      gl.uniform1f(uniform("u_covUnit"), covUnit);
      gl.drawArraysInstanced(gl.TRIANGLE_STRIP, 0, 4, ordered);
    },
    dispose() {
      gl.deleteTexture(texture);
      gl.deleteBuffer(corners);
      gl.deleteBuffer(indices);
      gl.deleteVertexArray(vao);
      gl.deleteProgram(program);
      const lose = gl.getExtension("WEBGL_lose_context");
      if (lose) lose.loseContext();
    },
  };
}
