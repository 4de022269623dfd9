"""A read-only table model over a list of rows, for the simpler screens."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt

Index = QModelIndex | QPersistentModelIndex


class RowsModel(QAbstractTableModel):
    """Rows are display tuples, or records that `cells` turns into display values when
    painted (so a language switch re-renders them); `keys` keep each row's identity."""

    def __init__(
        self,
        headers: Callable[[], Sequence[str]],
        parent: QObject | None = None,
        cells: Callable[[Any], Sequence[Any]] = tuple,
    ) -> None:
        super().__init__(parent)
        self.headers = headers
        self.cells = cells
        self.rows: list[Any] = []
        self.keys: list[Any] = []

    def set_rows(self, rows: list[Any], keys: list[Any] | None = None) -> None:
        self.beginResetModel()
        self.rows, self.keys = rows, rows if keys is None else keys
        self.endResetModel()

    def retranslate(self) -> None:
        self.headerDataChanged.emit(Qt.Orientation.Horizontal, 0, len(self.headers()) - 1)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.headers())

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.headers()[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if index.isValid() and role == Qt.ItemDataRole.DisplayRole:
            return self.cells(self.rows[index.row()])[index.column()]
        return None
