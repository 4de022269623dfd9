"""The main window: navigation, shortcuts, language switch, tray icon with status, and
the background loops (portal sync, usage collection) it starts and stops."""

from __future__ import annotations

from PySide6.QtCore import QEvent
from PySide6.QtGui import QAction, QCloseEvent, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMainWindow,
    QMenu,
    QProgressBar,
    QStackedWidget,
    QSystemTrayIcon,
    QWidget,
)

from vpanel_core.usage.auto import CollectionStatus
from vpanel_desktop import i18n
from vpanel_desktop.context import AppContext
from vpanel_desktop.i18n import translator
from vpanel_desktop.paths import icon_path
from vpanel_desktop.screens.activity import ActivityScreen
from vpanel_desktop.screens.base import Screen
from vpanel_desktop.screens.dashboard import DashboardScreen
from vpanel_desktop.screens.nodes import NodesScreen
from vpanel_desktop.screens.orders import OrdersScreen
from vpanel_desktop.screens.plans import PlansScreen
from vpanel_desktop.screens.settings import SettingsScreen
from vpanel_desktop.screens.subscriptions import SubscriptionsScreen
from vpanel_desktop.screens.users import UsersScreen
from vpanel_desktop.services import usage_service
from vpanel_desktop.services.sync_service import SyncService, describe
from vpanel_desktop.workers import ProgressDialog

tr = translator("MainWindow")
SCREENS: tuple[type[Screen], ...] = (
    DashboardScreen,
    UsersScreen,
    PlansScreen,
    NodesScreen,
    OrdersScreen,
    SubscriptionsScreen,
    SettingsScreen,
    ActivityScreen,
)


class MainWindow(QMainWindow):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        # Before the screens: change tracking must see every edit made in this session.
        self.sync = ctx.sync = SyncService(ctx)
        self.usage = ctx.usage = usage_service.UsageService(ctx)
        self.last_sync_job: ProgressDialog | None = None
        self.setObjectName("mainWindow")
        self.resize(1280, 800)
        self.setWindowIcon(QIcon(str(icon_path("vpanel.svg"))))
        self.nav = QListWidget()
        self.nav.setObjectName("navigation")
        self.nav.setFixedWidth(170)
        self.stack = QStackedWidget()
        self.screens: dict[type[Screen], Screen] = {}
        for cls in SCREENS:
            screen = cls(ctx)
            self.screens[cls] = screen
            self.stack.addWidget(screen)
            self.nav.addItem(screen.title())
        self.nav.currentRowChanged.connect(self.stack.setCurrentIndex)
        central = QWidget()
        layout = QHBoxLayout(central)
        layout.addWidget(self.nav)
        layout.addWidget(self.stack, 1)
        self.setCentralWidget(central)
        self.actions_by_name = self._make_actions()
        self.language_menu = QMenu(self)
        self._build_menus()
        self.tray = self._make_tray()
        # Usage collection keeps a place of its own: sync and screen messages replace
        # each other in the status bar, the last collection and the next stay in view.
        self.usage_state = QLabel()
        self.usage_state.setObjectName("usageState")
        self.usage_progress = QProgressBar()
        self.usage_progress.setObjectName("usageProgress")
        self.usage_progress.setMaximumWidth(140)
        self.usage_progress.hide()
        self.statusBar().addPermanentWidget(self.usage_state)
        self.statusBar().addPermanentWidget(self.usage_progress)
        ctx.bus.status_message.connect(self.set_status)
        self.sync.status_changed.connect(lambda status: self.set_status(describe(status)))
        self.usage.status_changed.connect(self.show_usage)
        self.nav.setCurrentRow(0)
        self.retranslate_ui()
        self.sync.start()
        self.usage.start()

    def show_screen(self, cls: type[Screen]) -> Screen:
        self.nav.setCurrentRow(SCREENS.index(cls))
        return self.screens[cls]

    def current_screen(self) -> Screen:
        widget = self.stack.currentWidget()
        assert isinstance(widget, Screen)
        return widget

    def _make_actions(self) -> dict[str, QAction]:
        def users() -> UsersScreen:
            screen = self.show_screen(UsersScreen)
            assert isinstance(screen, UsersScreen)
            return screen

        specs = {
            "new_user": ("Ctrl+N", lambda: users().new_user()),
            "search": ("Ctrl+F", lambda: self.current_screen().focus_search()),
            "refresh": ("F5", lambda: self.current_screen().refresh()),
            "renew": ("Ctrl+R", lambda: users().renew_user()),
            "sync_now": ("Ctrl+Shift+S", self.sync_now),
            "quit": ("Ctrl+Q", self.close),
        }
        made = {}
        for name, (keys, slot) in specs.items():
            action = QAction(self)
            action.setShortcut(QKeySequence(keys))
            action.triggered.connect(slot)
            self.addAction(action)
            made[name] = action
        return made

    def _build_menus(self) -> None:
        self.file_menu = self.menuBar().addMenu("")
        self.file_menu.addAction(self.actions_by_name["new_user"])
        self.file_menu.addAction(self.actions_by_name["refresh"])
        self.file_menu.addAction(self.actions_by_name["sync_now"])
        self.file_menu.addSeparator()
        self.file_menu.addAction(self.actions_by_name["quit"])
        self.menuBar().addMenu(self.language_menu)
        for code, name in i18n.LANGUAGES.items():
            action = self.language_menu.addAction(name)
            action.triggered.connect(lambda _c=False, lang=code: i18n.set_language(lang))

    def _make_tray(self) -> QSystemTrayIcon | None:
        if not QSystemTrayIcon.isSystemTrayAvailable():
            return None
        tray = QSystemTrayIcon(self.windowIcon(), self)
        menu = QMenu(self)
        menu.addAction(self.actions_by_name["refresh"])
        menu.addAction(self.actions_by_name["sync_now"])
        menu.addAction(self.actions_by_name["quit"])
        tray.setContextMenu(menu)
        tray.activated.connect(lambda _reason: self.showNormal())
        tray.show()
        return tray

    def sync_now(self) -> ProgressDialog:
        """Wake the sync loop; the dialog follows that attempt off the GUI thread."""
        self.last_sync_job = self.sync.sync_now(self)
        return self.last_sync_job

    def set_status(self, message: str) -> None:
        """Node / sync status: status bar always, tray tooltip when there is a tray."""
        self.statusBar().showMessage(message)
        if self.tray is not None:
            self.tray.setToolTip(f"vpanel — {message}")

    def show_usage(self, status: CollectionStatus) -> None:
        """The usage collection's line, with a progress bar while it runs."""
        self.usage_state.setText(usage_service.describe(status))
        self.usage_progress.setVisible(status.running)
        self.usage_progress.setRange(0, max(1, status.total))
        self.usage_progress.setValue(status.done)

    def retranslate_ui(self) -> None:
        self.setWindowTitle(tr("vpanel — operator"))
        self.show_usage(self.usage.collector.status)
        for row, screen in enumerate(self.screens.values()):
            item = self.nav.item(row)
            if item is not None:
                item.setText(screen.title())
        labels = {
            "new_user": tr("New user"),
            "search": tr("Search"),
            "refresh": tr("Refresh"),
            "renew": tr("Renew user"),
            "sync_now": tr("Sync now"),
            "quit": tr("Quit"),
        }
        for name, text in labels.items():
            self.actions_by_name[name].setText(text)
        self.file_menu.setTitle(tr("&File"))
        self.language_menu.setTitle(tr("&Language"))
        portal = self.ctx.portal_url or tr("not running")
        self.statusBar().showMessage(
            tr("Local portal: {portal} · secrets protected by {where}").format(
                portal=portal, where=self.ctx.box.key_location
            )
        )

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.LanguageChange:
            self.retranslate_ui()
        super().changeEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.usage.stop()  # first: a collection writes to the database the sync reads
        self.sync.stop()
        for screen in self.screens.values():
            screen.close()
        super().closeEvent(event)
