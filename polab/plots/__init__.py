"""Static plotly figures built from :class:`~polab.train.History` objects: the shared chart
module :mod:`polab.plots.base` and each family's chart table beside it (:mod:`~.pg`,
:mod:`~.group`, :mod:`~.diffsim`, :mod:`~.morl`).

Every name is re-exported here, so ``from polab import plots; plots.learning_curves(...)``
reads the same in every notebook. Every chart over a run's length is drawn against
``global_step`` (each history's x-axis column), titled by the chart's ``x_label``.

Taught in notebooks/00_tour.ipynb.
"""

from polab.plots.base import (
    COLORS,
    MARGIN,
    REINFORCE_CHARTS,
    RL_CHARTS,
    X_TITLES,
    Chart,
    bars,
    chart_data,
    dashboard,
    histogram,
    learning_curves,
)
from polab.plots.diffsim import (
    INVENTORY_CHARTS,
    REINFORCE_INVENTORY_CHARTS,
    data_efficiency_figure,
    gap_curves,
    gradient_projections,
    gradient_spread_figure,
    lr_sweep_figure,
    noise_figure,
    order_curves,
)
from polab.plots.group import LM_CHARTS, group_view_figure, token_html
from polab.plots.morl import (
    MORL_CHARTS,
    MORL_METRICS,
    STAGE_COLORS,
    algo_pareto_figure,
    crowding_figure,
    morl_metrics_figure,
    pareto_figure,
    pareto_traces,
    slack_figure,
    stage_color,
)
from polab.plots.pg import LQR_CHARTS, LQR_X_LABEL, MDPO_CHARTS, OFF_POLICY_CHARTS, quantile_bands

__all__ = [
    "COLORS", "MARGIN", "X_TITLES", "Chart", "chart_data", "dashboard", "learning_curves",
    "histogram", "bars", "RL_CHARTS", "REINFORCE_CHARTS",
    "LM_CHARTS", "group_view_figure", "token_html",
    "LQR_CHARTS", "LQR_X_LABEL", "MDPO_CHARTS", "OFF_POLICY_CHARTS", "quantile_bands",
    "INVENTORY_CHARTS", "REINFORCE_INVENTORY_CHARTS", "gap_curves", "order_curves",
    "gradient_projections", "gradient_spread_figure", "data_efficiency_figure",
    "noise_figure", "lr_sweep_figure",
    "STAGE_COLORS", "stage_color", "pareto_traces", "pareto_figure", "algo_pareto_figure",
    "crowding_figure", "slack_figure", "MORL_METRICS", "morl_metrics_figure", "MORL_CHARTS",
]
