# The public names of cnnvis.datasets, as explicit re-exports (loaded on first use).
from .classify import classify_dataset as classify_dataset
from .decode import FileError as FileError
from .evaluation import evaluate_dataset as evaluate_dataset
from .explain import ExplainSettings as ExplainSettings, Explainer as Explainer
from .inputs import expand_inputs as expand_inputs
from .parquet import (
    MAP_NOTE as MAP_NOTE,
    Row as Row,
    read_results as read_results,
    results_schema as results_schema,
    table_rows as table_rows,
)
from .run import DatasetRun as DatasetRun, Summary as Summary, explain_dataset as explain_dataset
