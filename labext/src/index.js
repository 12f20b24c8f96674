/*
 * A widget output whose model is gone shows the picture saved beside it.
 *
 * vlmrun-jupyter's live viewers display one MIME bundle holding a widget view
 * (application/vnd.jupyter.widget-view+json) and a static picture (text/html,
 * image/png). In JupyterLab 4 and Notebook 7 the widget renderer of
 * @jupyter-widgets/jupyterlab-manager (rank -10) always wins, and when the
 * widget's model does not exist - a notebook reopened without widget state,
 * which is JupyterLab's default, or a kernel restarted - it shows "Error
 * displaying widget: model not found" and never the picture.
 *
 * This plugin wraps that renderer in every notebook: the output shows the
 * bundle's best other MIME type (chosen and rendered by the notebook's own
 * rendermime registry, so trust and sanitizing stay JupyterLab's) until the
 * widget renderer holds a live view, then the view; if the view goes away (the
 * model closed, the kernel restarted) the picture comes back. It applies to any
 * widget output that carries a richer alternative than text/plain (a static
 * picture beside a widget view is there to be shown when the view cannot be);
 * outputs with only text/plain keep ipywidgets' behaviour untouched.
 */
import { INotebookTracker } from '@jupyterlab/notebook';
import { Panel } from '@lumino/widgets';

const WIDGET_VIEW = 'application/vnd.jupyter.widget-view+json';
const INNER = Symbol('the wrapped widget-view renderer factory');
const WRAPPERS = Symbol('the live LiveOrStatic renderers of this registry');

/** One output: the widget renderer while it shows a view, else the static picture. */
class LiveOrStatic extends Panel {
  constructor(rendermime, factory, options) {
    super();
    this.mimeType = options.mimeType;
    this.addClass('vlmrun-live-or-static');
    this._rendermime = rendermime;
    this._factory = factory;
    this._options = options;
    this._model = null;
    this._staticMime = null;
    this._live = null;
    this._static = null;
    // the widget renderer says nothing when its view appears or fails: watch its node
    this._observer = new MutationObserver(() => this._update());
    rendermime[WRAPPERS].add(this);
  }

  async renderModel(model) {
    this._model = model;
    const others = { ...model.data };
    delete others[WIDGET_VIEW];
    const mime = this._rendermime.preferredMimeType(others, model.trusted ? 'any' : 'ensure');
    this._staticMime = mime && mime !== 'text/plain' ? mime : null;
    this._disposeStatic();
    this._startLive();
    await this._update();
  }

  /** A newer widget-view factory (the widget manager's, once the kernel is up) was
   * installed: a renderer still without a view starts again from it, as the manager
   * does for the renderers it finds (it cannot find the ones wrapped here). */
  useFactory(factory) {
    this._factory = factory;
    if (this._model && !this._hasView()) {
      this._startLive();
      void this._update();
    }
  }

  dispose() {
    if (this.isDisposed) {
      return;
    }
    this._observer.disconnect();
    this._rendermime[WRAPPERS].delete(this);
    super.dispose();
  }

  _hasView() {
    return Boolean(this._live && !this._live.isDisposed && this._live.widgets.length > 0);
  }

  _startLive() {
    this._observer.disconnect();
    this._live?.dispose();
    this._live = this._factory.createRenderer(this._options);
    this.insertWidget(0, this._live);
    this._observer.observe(this._live.node, {
      childList: true,
      attributes: true,
      attributeFilter: ['class']
    });
    this._live.renderModel(this._model).catch(err => console.error(err));
  }

  async _update() {
    if (this.isDisposed) {
      return;
    }
    if (this._staticMime === null || this._hasView()) {
      this._live?.show();
      this._disposeStatic();
      return;
    }
    // The widget renderer marks a failure (model not found, view error) with the
    // jupyter-widgets class and no child; the failure is final, so drop its message.
    if (this._live?.hasClass('jupyter-widgets')) {
      this._observer.disconnect();
      this._live.dispose();
      this._live = null;
    }
    this._live?.hide();
    if (this._static === null) {
      this._static = this._rendermime.createRenderer(this._staticMime);
      this._static.addClass('vlmrun-static-fallback');
      this.addWidget(this._static);
      await this._static.renderModel(this._model);
    }
  }

  _disposeStatic() {
    this._static?.dispose();
    this._static = null;
  }
}

/** Wrap a registry's widget-view factory now and whenever one is added again. */
function guard(rendermime) {
  if (rendermime[WRAPPERS]) {
    return;
  }
  rendermime[WRAPPERS] = new Set();
  const addFactory = rendermime.addFactory;
  // The registry has no signal for a replaced factory, and the widget manager replaces
  // its factory once the kernel is ready: intercept additions on this registry only.
  rendermime.addFactory = function (factory, rank) {
    const inner = factory[INNER] ?? factory;
    if (!inner.mimeTypes.includes(WIDGET_VIEW)) {
      return addFactory.call(this, factory, rank);
    }
    const wrapped = {
      safe: inner.safe,
      mimeTypes: inner.mimeTypes,
      defaultRank: inner.defaultRank,
      [INNER]: inner,
      createRenderer: options =>
        options.mimeType === WIDGET_VIEW
          ? new LiveOrStatic(rendermime, inner, options)
          : inner.createRenderer(options)
    };
    addFactory.call(this, wrapped, rank);
    for (const renderer of [...rendermime[WRAPPERS]]) {
      renderer.useFactory(inner);
    }
  };
  const current = rendermime.getFactory(WIDGET_VIEW);
  if (current) {
    rendermime.addFactory(current, rendermime.getRank(WIDGET_VIEW));
  }
}

const plugin = {
  id: 'vlmrun-jupyter-widget-fallback:plugin',
  description: 'Widget outputs whose model is gone show their static picture.',
  autoStart: true,
  requires: [INotebookTracker],
  activate: (app, notebooks) => {
    notebooks.forEach(panel => guard(panel.content.rendermime));
    notebooks.widgetAdded.connect((_, panel) => guard(panel.content.rendermime));
  }
};

export default plugin;
