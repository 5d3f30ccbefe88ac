"""Classical image classifiers on NumPy, scikit-learn style (lectures 2-3, assignment 1).

    from chainrule.classifiers import KNearestNeighbor, LinearSVM, Softmax, cross_validate
    knn = KNearestNeighbor(k=5).fit(X_train, y_train); knn.score(X_test, y_test)
    res = cross_validate(KNearestNeighbor, X, y, {"k": [1, 3, 5]}); res.best_params
"""
from .cross_validation import CVResult, cross_validate, parameter_grid  # noqa: F401
from .knn import KNearestNeighbor  # noqa: F401
from .linear import LinearClassifier, LinearSVM, Softmax, augment  # noqa: F401
from .regularization import regularization  # noqa: F401
from .softmax_loss import softmax_loss_naive, softmax_loss_vectorized  # noqa: F401
from .svm_loss import svm_loss_naive, svm_loss_vectorized  # noqa: F401
from .templates import visualize_templates  # noqa: F401
