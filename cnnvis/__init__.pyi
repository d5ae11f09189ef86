# The public API of cnnvis, as explicit re-exports: IDEs and type checkers read this file,
# and cnnvis/__init__.py loads each name from here on first use (lazy_loader.attach_stub),
# so `import cnnvis` stays light until a model is touched. tests/test_package.py checks
# that every registry technique is here, bound to its registered function.

from . import errors as errors
from . import render as render
from .errors import (
    CnnvisError as CnnvisError,
    ComputeError as ComputeError,
    ImageError as ImageError,
    ImageTooLargeError as ImageTooLargeError,
    ImageTooSmallError as ImageTooSmallError,
    ModelFileError as ModelFileError,
    NotAnImageError as NotAnImageError,
    ParameterError as ParameterError,
    TruncatedImageError as TruncatedImageError,
    UnknownClassError as UnknownClassError,
    UnknownLayerError as UnknownLayerError,
    UnknownModelError as UnknownModelError,
    WeightsUnavailableError as WeightsUnavailableError,
)
from .images import load_image as load_image
from .registry import Option as Option, Technique as Technique

# models
from .models.availability import WeightsStatus as WeightsStatus
from .models.graph import LayerInfo as LayerInfo
from .models.hub import HubSpec as HubSpec, hub_models as hub_models
from .models.labels import imagenet_classes as imagenet_classes
from .models.loading import (
    MODEL_CACHE as MODEL_CACHE,
    REGISTRY as REGISTRY,
    ModelSpec as ModelSpec,
    VisModel as VisModel,
    conv_layers as conv_layers,
    default_layer as default_layer,
    list_models as list_models,
    load_model as load_model,
    weights_status as weights_status,
    wrap_model as wrap_model,
)
from .models.own import (
    KerasFileInfo as KerasFileInfo,
    inspect_keras_file as inspect_keras_file,
    load_keras_file as load_keras_file,
    read_class_names as read_class_names,
)
from .models.preprocessing import Preprocessing as Preprocessing

# techniques (every one in cnnvis.registry.TECHNIQUES) and their results
from .techniques.attention import attention_rollout as attention_rollout
from .techniques.attributions import (
    IntegratedGradients as IntegratedGradients,
    gradient_x_input as gradient_x_input,
    integrated_gradients as integrated_gradients,
    smoothgrad as smoothgrad,
    vanilla_gradient as vanilla_gradient,
)
from .techniques.base import Attribution as Attribution, Heatmap as Heatmap
from .techniques.cam import (
    eigen_cam as eigen_cam,
    grad_cam as grad_cam,
    grad_cam_plus_plus as grad_cam_plus_plus,
    guided_grad_cam as guided_grad_cam,
    layer_cam as layer_cam,
    score_cam as score_cam,
)
from .techniques.classification import (
    Prediction as Prediction,
    Predictions as Predictions,
    classify as classify,
)
from .techniques.deep_dream import (
    Dream as Dream,
    DreamFrame as DreamFrame,
    deep_dream as deep_dream,
    deep_dream_frames as deep_dream_frames,
)
from .techniques.feature_maps import FeatureMaps as FeatureMaps, feature_maps as feature_maps
from .techniques.feature_vis import (
    FeatureVisFrame as FeatureVisFrame,
    FeatureVisualization as FeatureVisualization,
    feature_visualization as feature_visualization,
    feature_visualization_frames as feature_visualization_frames,
)
from .techniques.filters import Filters as Filters, filters as filters
from .techniques.gradients import guided_backprop as guided_backprop
from .techniques.occlusion import Occlusion as Occlusion, occlusion as occlusion

# evaluation
from .evaluation.checks import (
    PointingGame as PointingGame,
    compare as compare,
    pointing_games as pointing_games,
    randomization_check as randomization_check,
)
from .evaluation.metrics import (
    Comparison as Comparison,
    Faithfulness as Faithfulness,
    PointingResult as PointingResult,
    RandomizationCheck as RandomizationCheck,
    deletion_insertion as deletion_insertion,
    pointing_game as pointing_game,
)
from .evaluation.trust import TrustReport as TrustReport, trust_report as trust_report

# datasets
from .datasets import explain_dataset as explain_dataset

# training
from .training import ExplainCallback as ExplainCallback

# every technique by name
from .registry import TECHNIQUES as TECHNIQUES

__version__: str
