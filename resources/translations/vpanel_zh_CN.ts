<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="zh_CN">
  <context>
    <name>MainWindow</name>
    <message>
      <source>vpanel — operator</source>
      <translation>vpanel — 运营端</translation>
    </message>
    <message>
      <source>New user</source>
      <translation>新建用户</translation>
    </message>
    <message>
      <source>Search</source>
      <translation>搜索</translation>
    </message>
    <message>
      <source>Refresh</source>
      <translation>刷新</translation>
    </message>
    <message>
      <source>Renew user</source>
      <translation>续费用户</translation>
    </message>
    <message>
      <source>Sync now</source>
      <translation>立即同步</translation>
    </message>
    <message>
      <source>Quit</source>
      <translation>退出</translation>
    </message>
    <message>
      <source>&amp;File</source>
      <translation>文件(&amp;F)</translation>
    </message>
    <message>
      <source>&amp;Language</source>
      <translation>语言(&amp;L)</translation>
    </message>
    <message>
      <source>not running</source>
      <translation>未运行</translation>
    </message>
    <message>
      <source>Local portal: {portal} · secrets protected by {where}</source>
      <translation>本地门户：{portal} · 密钥保存于 {where}</translation>
    </message>
  </context>
  <context>
    <name>Activity</name>
    <message>
      <source>Activity</source>
      <translation>活动日志</translation>
    </message>
    <message>
      <source>filter</source>
      <translation>筛选</translation>
    </message>
    <message>
      <source>This session's log</source>
      <translation>本次会话日志</translation>
    </message>
    <message>
      <source>When</source>
      <translation>时间</translation>
    </message>
    <message>
      <source>What</source>
      <translation>类型</translation>
    </message>
    <message>
      <source>Who / which</source>
      <translation>对象</translation>
    </message>
    <message>
      <source>Detail</source>
      <translation>详情</translation>
    </message>
  </context>
  <context>
    <name>Dashboard</name>
    <message>
      <source>Dashboard</source>
      <translation>仪表盘</translation>
    </message>
    <message>
      <source>Traffic per day</source>
      <translation>每日流量</translation>
    </message>
    <message>
      <source>Revenue per day (all currencies)</source>
      <translation>每日收入（所有币种）</translation>
    </message>
    <message>
      <source>Top users this month</source>
      <translation>本月流量排行</translation>
    </message>
    <message>
      <source>Active users</source>
      <translation>活跃用户</translation>
    </message>
    <message>
      <source>Revenue today</source>
      <translation>今日收入</translation>
    </message>
    <message>
      <source>Revenue this month</source>
      <translation>本月收入</translation>
    </message>
    <message>
      <source>Traffic today</source>
      <translation>今日流量</translation>
    </message>
    <message>
      <source>Traffic this month</source>
      <translation>本月流量</translation>
    </message>
    <message>
      <source>Nodes up / down</source>
      <translation>节点 在线 / 离线</translation>
    </message>
    <message>
      <source>Nodes: {up} up, {down} down</source>
      <translation>节点：{up} 在线，{down} 离线</translation>
    </message>
  </context>
  <context>
    <name>Nodes</name>
    <message>
      <source>Name</source>
      <translation>名称</translation>
    </message>
    <message>
      <source>Host</source>
      <translation>主机</translation>
    </message>
    <message>
      <source>Group</source>
      <translation>分组</translation>
    </message>
    <message>
      <source>Enabled</source>
      <translation>启用</translation>
    </message>
    <message>
      <source>Inbounds</source>
      <translation>入站</translation>
    </message>
    <message>
      <source>Last push</source>
      <translation>上次推送</translation>
    </message>
    <message>
      <source>Last result</source>
      <translation>上次结果</translation>
    </message>
    <message>
      <source>Confirm host key</source>
      <translation>确认主机密钥</translation>
    </message>
    <message>
      <source>Nodes</source>
      <translation>节点</translation>
    </message>
    <message>
      <source>yes</source>
      <translation>是</translation>
    </message>
    <message>
      <source>no</source>
      <translation>否</translation>
    </message>
    <message>
      <source>Add node</source>
      <translation>添加节点</translation>
    </message>
    <message>
      <source>paste the private key, or give a path to it</source>
      <translation>粘贴私钥，或填写私钥文件路径</translation>
    </message>
    <message>
      <source>SSH port</source>
      <translation>SSH 端口</translation>
    </message>
    <message>
      <source>SSH user</source>
      <translation>SSH 用户</translation>
    </message>
    <message>
      <source>Country</source>
      <translation>国家/地区</translation>
    </message>
    <message>
      <source>SSH key</source>
      <translation>SSH 密钥</translation>
    </message>
    <message>
      <source>Existing</source>
      <translation>已有</translation>
    </message>
    <message>
      <source>Tag</source>
      <translation>标签</translation>
    </message>
    <message>
      <source>Protocol</source>
      <translation>协议</translation>
    </message>
    <message>
      <source>Listen port</source>
      <translation>监听端口</translation>
    </message>
    <message>
      <source>Transport</source>
      <translation>传输</translation>
    </message>
    <message>
      <source>TLS (empty = default)</source>
      <translation>TLS（留空为默认）</translation>
    </message>
    <message>
      <source>SNI / REALITY site</source>
      <translation>SNI / REALITY 目标站点</translation>
    </message>
    <message>
      <source>Add node…</source>
      <translation>添加节点…</translation>
    </message>
    <message>
      <source>Inbounds…</source>
      <translation>入站…</translation>
    </message>
    <message>
      <source>Push config</source>
      <translation>推送配置</translation>
    </message>
    <message>
      <source>Check status</source>
      <translation>检查状态</translation>
    </message>
    <message>
      <source>Collect usage</source>
      <translation>收集流量</translation>
    </message>
    <message>
      <source>Push config to nodes</source>
      <translation>向节点推送配置</translation>
    </message>
    <message>
      <source>Node status</source>
      <translation>节点状态</translation>
    </message>
    <message>
      <source>{host} presented a {type} host key with fingerprint

{fp}

Compare it with `ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub` on the server. Trust it?</source>
      <translation>{host} 提供了 {type} 主机密钥，指纹为

{fp}

请在服务器上用 `ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub` 核对。是否信任？</translation>
    </message>
    <message>
      <source>No enabled nodes.</source>
      <translation>没有已启用的节点。</translation>
    </message>
    <message>
      <source>Inbounds of {node}</source>
      <translation>{node} 的入站</translation>
    </message>
    <message>
      <source>port</source>
      <translation>端口</translation>
    </message>
    <message>
      <source>Nodes: {ok} ok, {failed} failing</source>
      <translation>节点：{ok} 正常，{failed} 失败</translation>
    </message>
    <message>
      <source>Pinned host key {fp}</source>
      <translation>已固定主机密钥 {fp}</translation>
    </message>
    <message>
      <source>Could not fetch the host key yet: {message}</source>
      <translation>暂时无法获取主机密钥：{message}</translation>
    </message>
  </context>
  <context>
    <name>Orders</name>
    <message>
      <source>Orders &amp; payments</source>
      <translation>订单与支付</translation>
    </message>
    <message>
      <source>All orders</source>
      <translation>全部订单</translation>
    </message>
    <message>
      <source>Flagged</source>
      <translation>已标记</translation>
    </message>
    <message>
      <source>user or payment reference</source>
      <translation>用户或支付流水号</translation>
    </message>
    <message>
      <source>Confirm USDT payment…</source>
      <translation>确认 USDT 付款…</translation>
    </message>
    <message>
      <source>Mark refunded…</source>
      <translation>标记退款…</translation>
    </message>
    <message>
      <source>Confirm USDT payment</source>
      <translation>确认 USDT 付款</translation>
    </message>
    <message>
      <source>Transaction hash</source>
      <translation>交易哈希</translation>
    </message>
    <message>
      <source>Mark refunded</source>
      <translation>标记退款</translation>
    </message>
    <message>
      <source>Record that this order's payment was refunded and take back what it granted?</source>
      <translation>记录该订单已退款，并收回其发放的时长和流量？</translation>
    </message>
    <message>
      <source>Created</source>
      <translation>创建时间</translation>
    </message>
    <message>
      <source>User</source>
      <translation>用户</translation>
    </message>
    <message>
      <source>Plan</source>
      <translation>套餐</translation>
    </message>
    <message>
      <source>Status</source>
      <translation>状态</translation>
    </message>
    <message>
      <source>Provider</source>
      <translation>支付方式</translation>
    </message>
    <message>
      <source>Amount</source>
      <translation>金额</translation>
    </message>
    <message>
      <source>Reference</source>
      <translation>流水号</translation>
    </message>
    <message>
      <source>Flag</source>
      <translation>标记</translation>
    </message>
    <message>
      <source>a TRON transaction hash is 64 hex characters</source>
      <translation>TRON 交易哈希应为 64 位十六进制字符</translation>
    </message>
    <message>
      <source>payment</source>
      <translation>付款</translation>
    </message>
    <message>
      <source>Payment recorded: {o}</source>
      <translation>付款已记录：{o}</translation>
    </message>
    <message>
      <source>this order has no succeeded payment to refund</source>
      <translation>该订单没有可退款的成功付款</translation>
    </message>
  </context>
  <context>
    <name>Plans</name>
    <message>
      <source>Name</source>
      <translation>名称</translation>
    </message>
    <message>
      <source>Price</source>
      <translation>价格</translation>
    </message>
    <message>
      <source>Days</source>
      <translation>天数</translation>
    </message>
    <message>
      <source>Traffic</source>
      <translation>流量</translation>
    </message>
    <message>
      <source>Reset</source>
      <translation>重置</translation>
    </message>
    <message>
      <source>Node groups</source>
      <translation>节点分组</translation>
    </message>
    <message>
      <source>Visible</source>
      <translation>上架</translation>
    </message>
    <message>
      <source>Plans</source>
      <translation>套餐</translation>
    </message>
    <message>
      <source>yes</source>
      <translation>是</translation>
    </message>
    <message>
      <source>no</source>
      <translation>否</translation>
    </message>
    <message>
      <source>Offered on the portal</source>
      <translation>在门户上架</translation>
    </message>
    <message>
      <source>Currency</source>
      <translation>币种</translation>
    </message>
    <message>
      <source>Traffic per period (0 = unlimited)</source>
      <translation>每周期流量（0 = 不限）</translation>
    </message>
    <message>
      <source>Description</source>
      <translation>描述</translation>
    </message>
    <message>
      <source>New plan…</source>
      <translation>新建套餐…</translation>
    </message>
    <message>
      <source>Edit…</source>
      <translation>编辑…</translation>
    </message>
    <message>
      <source>Delete</source>
      <translation>删除</translation>
    </message>
    <message>
      <source>New plan</source>
      <translation>新建套餐</translation>
    </message>
    <message>
      <source>Edit plan</source>
      <translation>编辑套餐</translation>
    </message>
    <message>
      <source>days</source>
      <translation>天数</translation>
    </message>
    <message>
      <source>Delete plan</source>
      <translation>删除套餐</translation>
    </message>
    <message>
      <source>unlimited</source>
      <translation>不限</translation>
    </message>
    <message>
      <source>Delete plan {name}?</source>
      <translation>删除套餐 {name}？</translation>
    </message>
  </context>
  <context>
    <name>Settings</name>
    <message>
      <source>Settings</source>
      <translation>设置</translation>
    </message>
    <message>
      <source>Pairing…</source>
      <translation>正在配对…</translation>
    </message>
    <message>
      <source>Portal URL</source>
      <translation>门户地址</translation>
    </message>
    <message>
      <source>SMTP host</source>
      <translation>SMTP 服务器</translation>
    </message>
    <message>
      <source>SMTP port</source>
      <translation>SMTP 端口</translation>
    </message>
    <message>
      <source>SMTP user</source>
      <translation>SMTP 用户</translation>
    </message>
    <message>
      <source>Sender address</source>
      <translation>发件地址</translation>
    </message>
    <message>
      <source>SMTP password</source>
      <translation>SMTP 密码</translation>
    </message>
    <message>
      <source>USDT (TRC-20) address</source>
      <translation>USDT（TRC-20）收款地址</translation>
    </message>
    <message>
      <source>Time zone</source>
      <translation>时区</translation>
    </message>
    <message>
      <source>Stripe secret key</source>
      <translation>Stripe 私钥</translation>
    </message>
    <message>
      <source>Stripe webhook secret</source>
      <translation>Stripe Webhook 密钥</translation>
    </message>
    <message>
      <source>TronGrid API key</source>
      <translation>TronGrid API 密钥</translation>
    </message>
    <message>
      <source>Sync key</source>
      <translation>同步密钥</translation>
    </message>
    <message>
      <source>Language</source>
      <translation>语言</translation>
    </message>
    <message>
      <source>Collect usage every</source>
      <translation>自动收集流量间隔</translation>
    </message>
    <message>
      <source> min</source>
      <translation> 分钟</translation>
    </message>
    <message>
      <source>never (only when asked)</source>
      <translation>从不（仅手动收集）</translation>
    </message>
    <message>
      <source>Portal sync</source>
      <translation>门户同步</translation>
    </message>
    <message>
      <source>Portal address</source>
      <translation>门户地址</translation>
    </message>
    <message>
      <source>One-time code</source>
      <translation>一次性配对码</translation>
    </message>
    <message>
      <source>Pair</source>
      <translation>配对</translation>
    </message>
    <message>
      <source>Sync now</source>
      <translation>立即同步</translation>
    </message>
    <message>
      <source>Save</source>
      <translation>保存</translation>
    </message>
    <message>
      <source>Saved.</source>
      <translation>已保存。</translation>
    </message>
    <message>
      <source>Not paired with a portal.</source>
      <translation>尚未与门户配对。</translation>
    </message>
    <message>
      <source>Secrets are encrypted; the master key is kept in: {where}</source>
      <translation>密钥已加密存储；主密钥保存在：{where}</translation>
    </message>
    <message>
      <source>Not paired: {message}</source>
      <translation>未配对：{message}</translation>
    </message>
    <message>
      <source>Portal: paired with {url}</source>
      <translation>门户：已与 {url} 配对</translation>
    </message>
    <message>
      <source>stored — type to replace</source>
      <translation>已保存 — 输入新值以替换</translation>
    </message>
    <message>
      <source>not set</source>
      <translation>未设置</translation>
    </message>
  </context>
  <context>
    <name>Subscriptions</name>
    <message>
      <source>Subscriptions</source>
      <translation>订阅</translation>
    </message>
    <message>
      <source>username or short code</source>
      <translation>用户名或短码</translation>
    </message>
    <message>
      <source>Revoke (new token)</source>
      <translation>吊销（生成新令牌）</translation>
    </message>
    <message>
      <source>Reset stats</source>
      <translation>重置统计</translation>
    </message>
    <message>
      <source>User</source>
      <translation>用户</translation>
    </message>
    <message>
      <source>Token</source>
      <translation>令牌</translation>
    </message>
    <message>
      <source>Short code</source>
      <translation>短码</translation>
    </message>
    <message>
      <source>Created</source>
      <translation>创建时间</translation>
    </message>
    <message>
      <source>Last access</source>
      <translation>最近访问</translation>
    </message>
    <message>
      <source>Accesses</source>
      <translation>访问次数</translation>
    </message>
    <message>
      <source>Last IP</source>
      <translation>最近 IP</translation>
    </message>
    <message>
      <source>Revoke</source>
      <translation>吊销</translation>
    </message>
    <message>
      <source>The current link stops working at once. Continue?</source>
      <translation>当前链接将立即失效。继续？</translation>
    </message>
  </context>
  <context>
    <name>Users</name>
    <message>
      <source>Users</source>
      <translation>用户</translation>
    </message>
    <message>
      <source>active</source>
      <translation>正常</translation>
    </message>
    <message>
      <source>expired</source>
      <translation>已过期</translation>
    </message>
    <message>
      <source>over quota</source>
      <translation>流量超额</translation>
    </message>
    <message>
      <source>disabled</source>
      <translation>已禁用</translation>
    </message>
    <message>
      <source>e.g. 50GB; 0 = none</source>
      <translation>例如 50GB；0 = 无</translation>
    </message>
    <message>
      <source>comma separated; empty = all nodes</source>
      <translation>逗号分隔；留空 = 全部节点</translation>
    </message>
    <message>
      <source>Username</source>
      <translation>用户名</translation>
    </message>
    <message>
      <source>E-mail</source>
      <translation>邮箱</translation>
    </message>
    <message>
      <source>Alias</source>
      <translation>备注名</translation>
    </message>
    <message>
      <source>Notes</source>
      <translation>备注</translation>
    </message>
    <message>
      <source>Traffic reset</source>
      <translation>流量重置</translation>
    </message>
    <message>
      <source>Node groups</source>
      <translation>节点分组</translation>
    </message>
    <message>
      <source>Unlimited traffic</source>
      <translation>不限流量</translation>
    </message>
    <message>
      <source>Add days</source>
      <translation>增加天数</translation>
    </message>
    <message>
      <source>Add traffic</source>
      <translation>增加流量</translation>
    </message>
    <message>
      <source>Details</source>
      <translation>详情</translation>
    </message>
    <message>
      <source>Copy</source>
      <translation>复制</translation>
    </message>
    <message>
      <source>Status</source>
      <translation>状态</translation>
    </message>
    <message>
      <source>Expires</source>
      <translation>到期时间</translation>
    </message>
    <message>
      <source>Allowance</source>
      <translation>流量额度</translation>
    </message>
    <message>
      <source>Used</source>
      <translation>已用</translation>
    </message>
    <message>
      <source>Remaining</source>
      <translation>剩余</translation>
    </message>
    <message>
      <source>Link accesses</source>
      <translation>链接访问</translation>
    </message>
    <message>
      <source>New…</source>
      <translation>新建…</translation>
    </message>
    <message>
      <source>Edit…</source>
      <translation>编辑…</translation>
    </message>
    <message>
      <source>Renew…</source>
      <translation>续费…</translation>
    </message>
    <message>
      <source>Enable/Disable</source>
      <translation>启用/禁用</translation>
    </message>
    <message>
      <source>Reset usage</source>
      <translation>重置用量</translation>
    </message>
    <message>
      <source>New link</source>
      <translation>新链接</translation>
    </message>
    <message>
      <source>Delete</source>
      <translation>删除</translation>
    </message>
    <message>
      <source>Search username, e-mail, alias (Ctrl+F)</source>
      <translation>搜索用户名、邮箱、备注名（Ctrl+F）</translation>
    </message>
    <message>
      <source>Any status</source>
      <translation>全部状态</translation>
    </message>
    <message>
      <source>computing statuses…</source>
      <translation>正在计算状态…</translation>
    </message>
    <message>
      <source>Start counting this user's traffic from zero?</source>
      <translation>从零开始重新统计该用户的流量？</translation>
    </message>
    <message>
      <source>The old subscription link stops working at once. Continue?</source>
      <translation>旧订阅链接将立即失效。继续？</translation>
    </message>
    <message>
      <source>Plan</source>
      <translation>套餐</translation>
    </message>
    <message>
      <source>Created</source>
      <translation>创建时间</translation>
    </message>
    <message>
      <source>Edit user</source>
      <translation>编辑用户</translation>
    </message>
    <message>
      <source>New user</source>
      <translation>新建用户</translation>
    </message>
    <message>
      <source>Days</source>
      <translation>天数</translation>
    </message>
    <message>
      <source>Traffic</source>
      <translation>流量</translation>
    </message>
    <message>
      <source>unlimited</source>
      <translation>不限</translation>
    </message>
    <message>
      <source>Any plan</source>
      <translation>全部套餐</translation>
    </message>
    <message>
      <source>Any node group</source>
      <translation>全部节点分组</translation>
    </message>
    <message>
      <source>days</source>
      <translation>天数</translation>
    </message>
    <message>
      <source>Delete user</source>
      <translation>删除用户</translation>
    </message>
    <message>
      <source>Renew {name}</source>
      <translation>续费 {name}</translation>
    </message>
    <message>
      <source>{count} users</source>
      <translation>{count} 个用户</translation>
    </message>
    <message>
      <source>{count} times, last {at} from {ip}</source>
      <translation>{count} 次，最近 {at} 来自 {ip}</translation>
    </message>
    <message>
      <source>Delete {name} and their subscription? This cannot be undone.</source>
      <translation>删除 {name} 及其订阅？此操作无法撤销。</translation>
    </message>
  </context>
  <context>
    <name>Sync</name>
    <message>
      <source>snapshot owed</source>
      <translation>待发送完整快照</translation>
    </message>
    <message>
      <source>Sync: {state} · last {when} · pending {pending}</source>
      <translation>同步：{state} · 上次 {when} · 待处理 {pending}</translation>
    </message>
    <message>
      <source>syncing…</source>
      <translation>正在同步…</translation>
    </message>
    <message>
      <source>Sync with the portal</source>
      <translation>与门户同步</translation>
    </message>
    <message>
      <source>no answer from the sync loop</source>
      <translation>同步任务无响应</translation>
    </message>
  </context>
  <context>
    <name>Usage</name>
    <message>
      <source>Usage: no enabled nodes</source>
      <translation>流量：没有已启用的节点</translation>
    </message>
    <message>
      <source>Usage: collecting… {done}/{total} nodes</source>
      <translation>流量：收集中… {done}/{total} 个节点</translation>
    </message>
    <message>
      <source>Usage: collection failed at {when}: {error}</source>
      <translation>流量：{when} 收集失败：{error}</translation>
    </message>
    <message>
      <source>Usage: not collected yet</source>
      <translation>流量：尚未收集</translation>
    </message>
    <message>
      <source>automatic collection off</source>
      <translation>自动收集已关闭</translation>
    </message>
    <message>
      <source>next {when}</source>
      <translation>下次 {when}</translation>
    </message>
    <message>
      <source>Usage: collected {when}, {ok} ok, {failed} failed</source>
      <translation>流量：{when} 已收集，{ok} 个成功，{failed} 个失败</translation>
    </message>
    <message>
      <source>, {count} backing off</source>
      <translation>，{count} 个暂缓重试</translation>
    </message>
  </context>
  <context>
    <name>Forms</name>
    <message>
      <source>Not done</source>
      <translation>未完成</translation>
    </message>
    <message>
      <source>traffic must not be negative</source>
      <translation>流量不能为负数</translation>
    </message>
    <message>
      <source>{what} must not be negative</source>
      <translation>{what}不能为负数</translation>
    </message>
    <message>
      <source>{what} must be a whole number</source>
      <translation>{what}必须是整数</translation>
    </message>
    <message>
      <source>{what} must be a number</source>
      <translation>{what}必须是数字</translation>
    </message>
  </context>
  <context>
    <name>Progress</name>
    <message>
      <source>Working…</source>
      <translation>处理中…</translation>
    </message>
    <message>
      <source>Cancel</source>
      <translation>取消</translation>
    </message>
    <message>
      <source>Close</source>
      <translation>关闭</translation>
    </message>
    <message>
      <source>Cancelling… (items already started finish first)</source>
      <translation>正在取消…（已开始的项目会先完成）</translation>
    </message>
    <message>
      <source>Item</source>
      <translation>项目</translation>
    </message>
    <message>
      <source>State</source>
      <translation>状态</translation>
    </message>
    <message>
      <source>Result</source>
      <translation>结果</translation>
    </message>
    <message>
      <source>not started</source>
      <translation>未开始</translation>
    </message>
    <message>
      <source>Finished: {ok} succeeded, {failed} failed.</source>
      <translation>完成：{ok} 成功，{failed} 失败。</translation>
    </message>
    <message>
      <source>Failed: {message}</source>
      <translation>失败：{message}</translation>
    </message>
    <message>
      <source>running…</source>
      <translation>进行中…</translation>
    </message>
    <message>
      <source>done</source>
      <translation>完成</translation>
    </message>
    <message>
      <source>failed</source>
      <translation>失败</translation>
    </message>
    <message>
      <source>cancelled</source>
      <translation>已取消</translation>
    </message>
    <message>
      <source>waiting</source>
      <translation>等待中</translation>
    </message>
  </context>
</TS>
