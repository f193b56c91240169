<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="zh_CN">
<context>
    <name>Announcer</name>
    <message>
        <source>Speech is turned off (NOTIFIER_TTS_ENGINE=none).</source>
        <translation>语音已关闭（NOTIFIER_TTS_ENGINE=none）。</translation>
    </message>
    <message>
        <source>speech-dispatcher cannot open audio: no sound server answers.</source>
        <translation>speech-dispatcher 无法打开音频：没有声音服务器响应。</translation>
    </message>
    <message>
        <source>The speech engine did not answer in {seconds} s.</source>
        <translation>语音引擎在 {seconds} 秒内没有响应。</translation>
    </message>
    <message>
        <source>The speech engine {engine} did not answer in {seconds} s.</source>
        <translation>语音引擎 {engine} 在 {seconds} 秒内没有响应。</translation>
    </message>
    <message>
        <source>The speech helper could not be started.</source>
        <translation>语音辅助进程无法启动。</translation>
    </message>
    <message>
        <source>The speech helper stopped unexpectedly; it is being restarted.</source>
        <translation>语音辅助进程意外停止，正在重新启动。</translation>
    </message>
    <message>
        <source>Speech is not available: the Qt speech module could not be loaded.</source>
        <translation>语音不可用：无法加载 Qt 语音模块。</translation>
    </message>
    <message>
        <source>No speech engine was found on this computer, so orders are not read aloud (chimes still play). On Linux install speech-dispatcher and espeak-ng.</source>
        <translation>这台电脑上没有找到语音引擎，订单不会被朗读（提示音照常播放）。Linux 上请安装 speech-dispatcher 和 espeak-ng。</translation>
    </message>
    <message>
        <source>The speech engine {engine} could not start: {error}</source>
        <translation>语音引擎 {engine} 无法启动：{error}</translation>
    </message>
    <message>
        <source>No Chinese voice is installed, so orders may not be read correctly. Install a Chinese voice in the system&apos;s speech settings.</source>
        <translation>没有安装中文语音，订单可能无法正确朗读。请在系统的语音设置中安装中文语音。</translation>
    </message>
    <message>
        <source>No English voice is installed, so orders may not be read correctly.</source>
        <translation>没有安装英文语音，订单可能无法正确朗读。</translation>
    </message>
</context>
<context>
    <name>App</name>
    <message>
        <source>Order Notifier {version}
Announces new shop orders aloud until someone accepts them or stops the ringing.</source>
        <translation>订单提醒 {version}
语音播报店铺新订单，直到有人接单或停止提醒。</translation>
    </message>
    <message>
        <source>This desktop has no system tray, so Order Notifier shows its window instead. Closing the window keeps the notifier running; start it again to bring the window back.</source>
        <translation>此桌面没有系统托盘，因此订单提醒会显示窗口。关闭窗口后提醒仍在运行；再次启动程序即可重新打开窗口。</translation>
    </message>
</context>
<context>
    <name>ConnectionFilter</name>
    <message>
        <source>All connections</source>
        <translation>全部连接</translation>
    </message>
</context>
<context>
    <name>ConnectionsPage</name>
    <message>
        <source>(off)</source>
        <translation>（已关闭）</translation>
    </message>
    <message>
        <source>Connection</source>
        <translation>连接</translation>
    </message>
    <message>
        <source>e.g. 美团, 小程序, 总店</source>
        <translation>例如 美团、小程序、总店</translation>
    </message>
    <message>
        <source>Name</source>
        <translation>名称</translation>
    </message>
    <message>
        <source>Colour</source>
        <translation>颜色</translation>
    </message>
    <message>
        <source>On (receive this connection&apos;s orders)</source>
        <translation>开启（接收此连接的订单）</translation>
    </message>
    <message>
        <source>Its server settings are on the Connection page.</source>
        <translation>它的服务器设置在“连接”页。</translation>
    </message>
    <message>
        <source>Leave empty to keep the saved one</source>
        <translation>留空则保留已保存的</translation>
    </message>
    <message>
        <source>Enter the address of the order server.</source>
        <translation>请输入订单服务器的地址。</translation>
    </message>
    <message>
        <source>Every platform the shop takes orders from, each with its own name and colour: popups, the voice, the orders window and tickets say which one an order came from. Changes take effect on Save, restarting only the connections that changed.</source>
        <translation>店铺接单的每个平台，各有自己的名称和颜色：弹窗、语音、订单窗口和小票都会说明订单来自哪一个。更改在保存后生效，只重新连接有变动的连接。</translation>
    </message>
    <message>
        <source>Add…</source>
        <translation>添加…</translation>
    </message>
    <message>
        <source>Edit…</source>
        <translation>编辑…</translation>
    </message>
    <message>
        <source>Remove</source>
        <translation>删除</translation>
    </message>
    <message>
        <source>Test</source>
        <translation>测试</translation>
    </message>
    <message>
        <source>Try the chosen connection as entered here, saved or not</source>
        <translation>按这里填写的内容测试所选连接（无论是否已保存）</translation>
    </message>
    <message>
        <source>Turn off</source>
        <translation>关闭</translation>
    </message>
    <message>
        <source>Turn on</source>
        <translation>开启</translation>
    </message>
    <message>
        <source>The first connection is the one on the Connection page: turn it off instead.</source>
        <translation>第一个连接就是“连接”页上的那个：请改为关闭它。</translation>
    </message>
    <message>
        <source>{name}: connecting…</source>
        <translation>{name}：正在连接…</translation>
    </message>
</context>
<context>
    <name>HourChart</name>
    <message numerus="yes">
        <source>%n order(s) today</source>
        <translation>
            <numerusform>今天 %n 个订单</numerusform>
        </translation>
    </message>
    <message>
        <source>Orders per hour today</source>
        <translation>今日每小时订单</translation>
    </message>
    <message numerus="yes">
        <source>%1:00–%2:00: %n order(s)</source>
        <translation>
            <numerusform>%1:00–%2:00：%n 个订单</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>Identity</name>
    <message>
        <source>Order Notifier</source>
        <translation>订单提醒</translation>
    </message>
</context>
<context>
    <name>Notifier</name>
    <message>
        <source>Open</source>
        <translation>打开</translation>
    </message>
</context>
<context>
    <name>OrderDecisions</name>
    <message>
        <source>Sold out</source>
        <translation>菜品已售完</translation>
    </message>
    <message>
        <source>Too busy right now</source>
        <translation>店铺太忙</translation>
    </message>
    <message>
        <source>Outside the delivery area</source>
        <translation>超出配送范围</translation>
    </message>
    <message>
        <source>Closing soon</source>
        <translation>即将打烊</translation>
    </message>
    <message>
        <source>Reject order %1</source>
        <translation>拒单 %1</translation>
    </message>
    <message>
        <source>Reject order %1? The customer sees the reason.</source>
        <translation>拒绝订单 %1？顾客会看到拒单原因。</translation>
    </message>
    <message>
        <source>Choose or type a reason</source>
        <translation>请选择或输入原因</translation>
    </message>
    <message>
        <source>Reject order</source>
        <translation>拒单</translation>
    </message>
    <message>
        <source>Order %1 was accepted elsewhere</source>
        <translation>订单 %1 已在别处接单</translation>
    </message>
    <message>
        <source>It had already been accepted elsewhere.</source>
        <translation>该订单已在别处接单。</translation>
    </message>
    <message>
        <source>It had already been rejected elsewhere.</source>
        <translation>该订单已在别处拒单。</translation>
    </message>
    <message>
        <source>The customer had cancelled it.</source>
        <translation>顾客已取消该订单。</translation>
    </message>
    <message>
        <source>Nothing was sent.</source>
        <translation>本机没有发送。</translation>
    </message>
    <message>
        <source>Accept</source>
        <translation>接单</translation>
    </message>
    <message>
        <source>Reject…</source>
        <translation>拒单…</translation>
    </message>
    <message>
        <source>Accept it in your order system: here you can only stop the ringing.</source>
        <translation>请在订单系统中接单；本机只能停止提醒。</translation>
    </message>
    <message>
        <source>Not connected.</source>
        <translation>未连接。</translation>
    </message>
    <message>
        <source>Order %1 not accepted</source>
        <translation>订单 %1 未能接单</translation>
    </message>
    <message>
        <source>Order %1 not rejected</source>
        <translation>订单 %1 未能拒单</translation>
    </message>
    <message>
        <source>Order %1 was cancelled by the customer</source>
        <translation>订单 %1 已被顾客取消</translation>
    </message>
    <message>
        <source>Order %1 was rejected elsewhere</source>
        <translation>订单 %1 已在别处拒单</translation>
    </message>
</context>
<context>
    <name>OrderDetails</name>
    <message>
        <source>…and %1 more items</source>
        <translation>……另有 %1 个菜品</translation>
    </message>
    <message>
        <source>Remark: %1</source>
        <translation>备注：%1</translation>
    </message>
    <message>
        <source>Phone: %1</source>
        <translation>电话：%1</translation>
    </message>
    <message>
        <source>Address: %1</source>
        <translation>地址：%1</translation>
    </message>
</context>
<context>
    <name>OrderLife</name>
    <message>
        <source>Out for delivery</source>
        <translation>派送中</translation>
    </message>
    <message>
        <source>Completed</source>
        <translation>已完成</translation>
    </message>
    <message>
        <source>Cancelled</source>
        <translation>已取消</translation>
    </message>
    <message>
        <source>Complete</source>
        <translation>完成</translation>
    </message>
    <message>
        <source>To accept</source>
        <translation>待接单</translation>
    </message>
    <message>
        <source>To send out</source>
        <translation>已接单/待派送</translation>
    </message>
    <message>
        <source>Send out</source>
        <translation>派送</translation>
    </message>
    <message>
        <source>Cancel order…</source>
        <translation>取消订单…</translation>
    </message>
    <message>
        <source>Order %1 not sent out for delivery</source>
        <translation>订单 %1 未能派送</translation>
    </message>
    <message>
        <source>Order %1 not completed</source>
        <translation>订单 %1 未能完成</translation>
    </message>
    <message>
        <source>Order %1 not cancelled</source>
        <translation>订单 %1 未能取消</translation>
    </message>
    <message>
        <source>Order %1 accepted</source>
        <translation>订单 %1 已接单</translation>
    </message>
    <message>
        <source>Order %1 out for delivery</source>
        <translation>订单 %1 派送中</translation>
    </message>
    <message>
        <source>Order %1 completed</source>
        <translation>订单 %1 已完成</translation>
    </message>
    <message>
        <source>Order %1 cancelled</source>
        <translation>订单 %1 已取消</translation>
    </message>
    <message>
        <source>Sold out</source>
        <translation>菜品已售完</translation>
    </message>
    <message>
        <source>No rider available</source>
        <translation>暂无骑手</translation>
    </message>
    <message>
        <source>The customer asked to cancel</source>
        <translation>顾客要求取消</translation>
    </message>
    <message>
        <source>The shop is closing</source>
        <translation>店铺即将打烊</translation>
    </message>
    <message>
        <source>Cancel order %1</source>
        <translation>取消订单 %1</translation>
    </message>
    <message>
        <source>Cancel order %1? The customer sees the reason and is refunded.</source>
        <translation>取消订单 %1？顾客会看到原因并获得退款。</translation>
    </message>
    <message>
        <source>Cancel order</source>
        <translation>取消订单</translation>
    </message>
    <message>
        <source>Its state now: %1. Nothing was sent.</source>
        <translation>订单现在的状态：%1。未发送任何操作。</translation>
    </message>
    <message>
        <source>Orders under way</source>
        <translation>进行中的订单</translation>
    </message>
    <message>
        <source>Today: takings %1 · valid orders %2 · average %3</source>
        <translation>今日：营业额 %1 · 有效订单 %2 · 客单价 %3</translation>
    </message>
    <message>
        <source>Yesterday %1 (valid orders %2) · Last %3 %4 (valid orders %5)</source>
        <translation>昨日 %1（有效订单 %2） · 上%3 %4（有效订单 %5）</translation>
    </message>
    <message>
        <source>Today %1 · valid orders %2 · yesterday %3</source>
        <translation>今日 %1 · 有效订单 %2 · 昨日 %3</translation>
    </message>
    <message>
        <source>Monday</source>
        <translation>周一</translation>
    </message>
    <message>
        <source>Tuesday</source>
        <translation>周二</translation>
    </message>
    <message>
        <source>Wednesday</source>
        <translation>周三</translation>
    </message>
    <message>
        <source>Thursday</source>
        <translation>周四</translation>
    </message>
    <message>
        <source>Friday</source>
        <translation>周五</translation>
    </message>
    <message>
        <source>Saturday</source>
        <translation>周六</translation>
    </message>
    <message>
        <source>Sunday</source>
        <translation>周日</translation>
    </message>
</context>
<context>
    <name>OrdersModel</name>
    <message>
        <source>Time</source>
        <translation>时间</translation>
    </message>
    <message>
        <source>Kind</source>
        <translation>类型</translation>
    </message>
    <message>
        <source>Order number</source>
        <translation>订单号</translation>
    </message>
    <message>
        <source>Amount</source>
        <translation>金额</translation>
    </message>
    <message>
        <source>Customer</source>
        <translation>顾客</translation>
    </message>
    <message>
        <source>Status</source>
        <translation>状态</translation>
    </message>
    <message>
        <source>State</source>
        <translation>进度</translation>
    </message>
    <message>
        <source>Connection</source>
        <translation>连接</translation>
    </message>
    <message>
        <source>New order</source>
        <translation>新订单</translation>
    </message>
    <message>
        <source>Reminder</source>
        <translation>催单</translation>
    </message>
    <message>
        <source>Cancelled</source>
        <translation>已取消</translation>
    </message>
    <message>
        <source>Refund</source>
        <translation>退款</translation>
    </message>
    <message>
        <source>Accept not sent yet</source>
        <translation>接单未发出</translation>
    </message>
    <message>
        <source>Reject not sent yet</source>
        <translation>拒单未发出</translation>
    </message>
    <message>
        <source>Accepted here</source>
        <translation>已在本机接单</translation>
    </message>
    <message>
        <source>Rejected here</source>
        <translation>已在本机拒单</translation>
    </message>
    <message>
        <source>Accepted elsewhere</source>
        <translation>已在别处接单</translation>
    </message>
    <message>
        <source>Rejected elsewhere</source>
        <translation>已在别处拒单</translation>
    </message>
    <message>
        <source>Cancelled by the customer</source>
        <translation>顾客已取消</translation>
    </message>
    <message>
        <source>Silenced here</source>
        <translation>本机已停止提醒</translation>
    </message>
    <message>
        <source>Only this PC stopped ringing; the order system was not told anything.</source>
        <translation>只是本机停止了提醒，订单系统没有收到任何通知。</translation>
    </message>
    <message>
        <source>Decided here; sent as soon as the order system answers.</source>
        <translation>已在本机处理，订单系统一有响应就会发出。</translation>
    </message>
    <message>
        <source>%1 at %2</source>
        <translation>%2 %1</translation>
    </message>
    <message>
        <source>Waiting</source>
        <translation>待处理</translation>
    </message>
</context>
<context>
    <name>OrdersWindow</name>
    <message>
        <source>Orders — Order Notifier</source>
        <translation>订单 — 订单提醒</translation>
    </message>
    <message>
        <source>Today</source>
        <translation>今天</translation>
    </message>
    <message>
        <source>Any outcome</source>
        <translation>全部结果</translation>
    </message>
    <message>
        <source>Accept</source>
        <translation>接单</translation>
    </message>
    <message>
        <source>Reject…</source>
        <translation>拒单…</translation>
    </message>
    <message>
        <source>Any state</source>
        <translation>任意状态</translation>
    </message>
    <message>
        <source>Still ringing</source>
        <translation>待处理</translation>
    </message>
    <message>
        <source>Stop ringing (selected)</source>
        <translation>所选停止提醒</translation>
    </message>
    <message>
        <source>Stop ringing (all)</source>
        <translation>全部停止提醒</translation>
    </message>
    <message>
        <source>Stop ringing here</source>
        <translation>本机停止提醒</translation>
    </message>
    <message numerus="yes">
        <source>%n still ringing</source>
        <translation>
            <numerusform>%n 个待处理</numerusform>
        </translation>
    </message>
    <message>
        <source>All</source>
        <translation>全部</translation>
    </message>
    <message>
        <source>Search order number, customer or text</source>
        <translation>搜索订单号、顾客或备注</translation>
    </message>
    <message>
        <source>Open in browser</source>
        <translation>在浏览器中打开</translation>
    </message>
    <message>
        <source>Reprint ticket</source>
        <translation>补打小票</translation>
    </message>
    <message>
        <source>Set the address for opening orders in Settings → Alerts.</source>
        <translation>请在“设置 → 提醒”中填写打开订单的地址。</translation>
    </message>
    <message numerus="yes">
        <source>%n order(s) shown</source>
        <translation>
            <numerusform>显示 %n 个订单</numerusform>
        </translation>
    </message>
    <message>
        <source>No orders match the search.</source>
        <translation>没有符合搜索条件的订单。</translation>
    </message>
    <message>
        <source>No orders yet. New orders appear here as they arrive.</source>
        <translation>还没有订单。新订单到达后会显示在这里。</translation>
    </message>
</context>
<context>
    <name>Printing</name>
    <message>
        <source>The printer address is not usable: {problem}</source>
        <translation>打印机地址不可用：{problem}</translation>
    </message>
    <message>
        <source>Printer offline — {count} tickets waiting ({reason})</source>
        <translation>打印机离线 — {count} 张小票等待打印（{reason}）</translation>
    </message>
    <message>
        <source>The printer is offline; {count} tickets are waiting.</source>
        <translation>打印机离线，有 {count} 张小票等待打印。</translation>
    </message>
</context>
<context>
    <name>SettingsDialog</name>
    <message>
        <source>Settings — Order Notifier</source>
        <translation>设置 — 订单提醒</translation>
    </message>
    <message>
        <source>Connection</source>
        <translation>连接</translation>
    </message>
    <message>
        <source>Alerts</source>
        <translation>提醒</translation>
    </message>
    <message>
        <source>Voice</source>
        <translation>语音</translation>
    </message>
    <message>
        <source>Kitchen tickets</source>
        <translation>厨房小票</translation>
    </message>
    <message>
        <source>What the ticket shows</source>
        <translation>小票上印什么</translation>
    </message>
    <message>
        <source>General</source>
        <translation>常规</translation>
    </message>
    <message>
        <source>Save</source>
        <translation>保存</translation>
    </message>
    <message>
        <source>Cancel</source>
        <translation>取消</translation>
    </message>
    <message>
        <source>Welcome to Order Notifier</source>
        <translation>欢迎使用订单提醒</translation>
    </message>
    <message>
        <source>Order server</source>
        <translation>订单服务器</translation>
    </message>
    <message>
        <source>Sky-take-out admin account (catches orders missed while offline)</source>
        <translation>苍穹外卖管理员账号（补收离线期间的订单）</translation>
    </message>
    <message>
        <source>Message fields</source>
        <translation>消息字段</translation>
    </message>
    <message>
        <source>RabbitMQ queue</source>
        <translation>RabbitMQ 队列</translation>
    </message>
    <message>
        <source>Advanced</source>
        <translation>高级</translation>
    </message>
    <message>
        <source>What to announce</source>
        <translation>提醒内容</translation>
    </message>
    <message>
        <source>Repeats and summaries</source>
        <translation>重复提醒与汇总</translation>
    </message>
    <message>
        <source>Quiet hours (voice off, notifications still shown)</source>
        <translation>免打扰时段（不播报语音，仍显示通知）</translation>
    </message>
    <message>
        <source>Opening orders</source>
        <translation>打开订单</translation>
    </message>
    <message>
        <source>When nobody acts on an order</source>
        <translation>无人处理订单时</translation>
    </message>
    <message>
        <source>The owner&apos;s phone</source>
        <translation>店主的手机</translation>
    </message>
    <message>
        <source>When the connection is lost</source>
        <translation>连接断开时</translation>
    </message>
    <message>
        <source>What is said</source>
        <translation>播报内容</translation>
    </message>
    <message>
        <source>Show advanced settings</source>
        <translation>显示高级设置</translation>
    </message>
    <message>
        <source>Browse…</source>
        <translation>浏览…</translation>
    </message>
    <message>
        <source>normal</source>
        <translation>正常</translation>
    </message>
    <message>
        <source>Automatic</source>
        <translation>自动</translation>
    </message>
    <message>
        <source>List voices</source>
        <translation>列出语音</translation>
    </message>
    <message>
        <source>Looking for printers…</source>
        <translation>正在查找打印机…</translation>
    </message>
    <message>
        <source>The default printer</source>
        <translation>默认打印机</translation>
    </message>
    <message>
        <source>No printer is installed on this computer</source>
        <translation>本机没有安装打印机</translation>
    </message>
    <message>
        <source>Saved — type to replace</source>
        <translation>已保存 — 输入新值可替换</translation>
    </message>
    <message>
        <source>Remove</source>
        <translation>删除</translation>
    </message>
    <message>
        <source>Stored only in %1, never in the settings file.</source>
        <translation>仅保存在 %1 中，不会写入设置文件。</translation>
    </message>
    <message>
        <source>Test connection</source>
        <translation>测试连接</translation>
    </message>
    <message>
        <source>It shows and announces every new order and customer reminder until you accept it or stop the ringing. Choose the kind of order server your shop uses, enter its address, press “Test connection”, then Save.</source>
        <translation>每个新订单和顾客催单都会弹出通知并语音播报，直到您接单或停止提醒为止。请选择店铺使用的订单服务器类型，填写地址，点击“测试连接”，然后保存。</translation>
    </message>
    <message>
        <source>Set by the demo for this run.</source>
        <translation>由演示模式为本次运行设置。</translation>
    </message>
    <message>
        <source>Checking the keyring…</source>
        <translation>正在查看密钥环…</translation>
    </message>
    <message>
        <source>Test voice</source>
        <translation>试听语音</translation>
    </message>
    <message>
        <source>Voice is not available in this window.</source>
        <translation>此窗口中无法使用语音。</translation>
    </message>
    <message>
        <source>Print test page</source>
        <translation>打印测试页</translation>
    </message>
    <message>
        <source>Apprise addresses, separated by spaces: wecombot://KEY (WeCom group robot), dingtalk://SECRET@TOKEN (DingTalk, signed), feishu://SECRET@TOKEN (Feishu), schan://SENDKEY (ServerChan), bark://HOST/DEVICE_KEY, ntfy://HOST/TOPIC, json://HOST/PATH. They hold tokens, so they are kept in the keyring only.</source>
        <translation>Apprise 地址，多个用空格隔开：wecombot://KEY（企业微信群机器人）、dingtalk://SECRET@TOKEN（钉钉，加签）、feishu://SECRET@TOKEN（飞书）、schan://SENDKEY（Server酱）、bark://HOST/DEVICE_KEY、ntfy://HOST/TOPIC、json://HOST/PATH。地址中含有令牌，所以只保存在密钥环中。</translation>
    </message>
    <message>
        <source>Send a test message</source>
        <translation>发送测试消息</translation>
    </message>
    <message>
        <source>You can use {number} (order number, long ones read as the last 4 digits), {amount}, {customer}, {text} and {order_id}.</source>
        <translation>可以使用 {number}（订单号，较长的只读后 4 位）、{amount}、{customer}、{text} 和 {order_id}。</translation>
    </message>
    <message>
        <source>Escalation</source>
        <translation>超时提醒</translation>
    </message>
    <message>
        <source>Printer</source>
        <translation>打印机</translation>
    </message>
    <message>
        <source>Sky-take-out (苍穹外卖)</source>
        <translation>苍穹外卖</translation>
    </message>
    <message>
        <source>Other server sending JSON over WebSocket</source>
        <translation>其他 WebSocket JSON 服务器</translation>
    </message>
    <message>
        <source>Order Notifier server</source>
        <translation>订单提醒服务器</translation>
    </message>
    <message>
        <source>Check for missed orders (s)</source>
        <translation>检查漏单间隔（秒）</translation>
    </message>
    <message>
        <source>How often the admin API is asked for orders paid while offline.</source>
        <translation>多久向管理端接口查询一次离线期间支付的订单。</translation>
    </message>
    <message>
        <source>Repeat every (s)</source>
        <translation>重复提醒间隔（秒）</translation>
    </message>
    <message>
        <source>Repeat at most (times)</source>
        <translation>最多重复（次）</translation>
    </message>
    <message>
        <source>Summarise above (orders)</source>
        <translation>合并提醒阈值（单）</translation>
    </message>
    <message>
        <source>When more orders than this arrive at once, one notification and one sentence tell them all.</source>
        <translation>同时到达的订单超过此数时，合并为一条通知和一句播报。</translation>
    </message>
    <message>
        <source>Announce a lost connection after (s)</source>
        <translation>断线播报延迟（秒）</translation>
    </message>
    <message>
        <source>0: never.</source>
        <translation>0：不播报。</translation>
    </message>
    <message>
        <source>From</source>
        <translation>开始</translation>
    </message>
    <message>
        <source>For example 22:30; empty: no quiet hours.</source>
        <translation>例如 22:30；留空则不设免打扰。</translation>
    </message>
    <message>
        <source>Until</source>
        <translation>结束</translation>
    </message>
    <message>
        <source>For example 07:00, the next morning.</source>
        <translation>例如 07:00（次日早上）。</translation>
    </message>
    <message>
        <source>Order page address</source>
        <translation>订单页面地址</translation>
    </message>
    <message>
        <source>Until the order is accepted or its ringing stopped. 0: remind only once.</source>
        <translation>直到订单被接单或停止提醒为止。0：只提醒一次。</translation>
    </message>
    <message>
        <source>Auto-accept (自动接单)</source>
        <translation>自动接单</translation>
    </message>
    <message>
        <source>Opening hours (营业 / 打烊 by themselves)</source>
        <translation>营业时间（到点自动营业 / 打烊）</translation>
    </message>
    <message>
        <source>Second printer (a station)</source>
        <translation>第二台打印机（档口）</translation>
    </message>
    <message>
        <source>Third printer (a station)</source>
        <translation>第三台打印机（档口）</translation>
    </message>
    <message>
        <source>Counter: the whole receipt</source>
        <translation>前台：完整小票</translation>
    </message>
    <message>
        <source>Kitchen: dishes and remark, big type</source>
        <translation>厨房：菜品和备注，大字</translation>
    </message>
    <message>
        <source>Station: only the dishes named below</source>
        <translation>档口：只打下面列出的菜品</translation>
    </message>
    <message>
        <source>At most (orders per hour)</source>
        <translation>每小时最多（个）</translation>
    </message>
    <message>
        <source>0: no limit. Above it, orders ring as usual.</source>
        <translation>0：不限。超过后订单照常响铃。</translation>
    </message>
    <message>
        <source>Open</source>
        <translation>营业</translation>
    </message>
    <message>
        <source>Every day: 10:00-22:00. By day: mon-fri 10:00-14:00,17:00-22:00; sat,sun 09:00-02:00 (past midnight allowed). The shop opens and closes by itself at these times; the tray can still open or close it in between. Empty: no opening hours.</source>
        <translation>每天：10:00-22:00。按星期：mon-fri 10:00-14:00,17:00-22:00; sat,sun 09:00-02:00（可以跨过午夜）。到点自动营业和打烊；其间仍可从托盘菜单营业或打烊。留空：不设营业时间。</translation>
    </message>
    <message>
        <source>Connections</source>
        <translation>多个连接</translation>
    </message>
    <message>
        <source>{order_id} and {order_number} are filled in. Used by a click on a notification, by “Open in browser” and by the ticket&apos;s QR code.</source>
        <translation>{order_id} 和 {order_number} 会被填入。点击通知、“在浏览器中打开”和小票上的二维码都会使用此地址。</translation>
    </message>
    <message>
        <source>Ring louder after (min)</source>
        <translation>多久后加大提醒（分钟）</translation>
    </message>
    <message>
        <source>The order is announced again with a louder, more urgent sound. 0: never.</source>
        <translation>用更响、更急促的提示音再次播报该订单。0：不加大。</translation>
    </message>
    <message>
        <source>Send to the phone after (min)</source>
        <translation>多久后发到手机（分钟）</translation>
    </message>
    <message>
        <source>One message per order; orders waiting together are one message. 0: never.</source>
        <translation>每个订单发一条；同时等待的订单合成一条。0：不发。</translation>
    </message>
    <message>
        <source>Send to</source>
        <translation>发送到</translation>
    </message>
    <message>
        <source>And again when it is back, with how many orders arrived meanwhile. 0: never.</source>
        <translation>恢复时再发一条，说明期间收到了几个订单。0：不发。</translation>
    </message>
    <message>
        <source>Send</source>
        <translation>发送</translation>
    </message>
    <message>
        <source>Always</source>
        <translation>总是</translation>
    </message>
    <message>
        <source>Not during the quiet hours (shop closed)</source>
        <translation>免打扰时段不发（已打烊）</translation>
    </message>
    <message>
        <source>Until opening hours can be set, the quiet hours on the Alerts page stand for “closed”.</source>
        <translation>在可以设置营业时间之前，“提醒”页上的免打扰时段视为打烊。</translation>
    </message>
    <message>
        <source>Never</source>
        <translation>不打印</translation>
    </message>
    <message>
        <source>Every new order</source>
        <translation>每个新订单</translation>
    </message>
    <message>
        <source>When an order is accepted</source>
        <translation>接单时</translation>
    </message>
    <message>
        <source>Reminders are never printed.</source>
        <translation>催单从不打印。</translation>
    </message>
    <message>
        <source>Receipt printer on the network (ESC/POS)</source>
        <translation>网络小票打印机（ESC/POS）</translation>
    </message>
    <message>
        <source>Receipt printer on a serial port (ESC/POS)</source>
        <translation>串口小票打印机（ESC/POS）</translation>
    </message>
    <message>
        <source>Receipt printer on USB (ESC/POS)</source>
        <translation>USB 小票打印机（ESC/POS）</translation>
    </message>
    <message>
        <source>A printer of this computer</source>
        <translation>本机安装的打印机</translation>
    </message>
    <message>
        <source>58 mm roll</source>
        <translation>58 毫米卷纸</translation>
    </message>
    <message>
        <source>80 mm roll</source>
        <translation>80 毫米卷纸</translation>
    </message>
    <message>
        <source>Copies</source>
        <translation>份数</translation>
    </message>
    <message>
        <source>Chinese text</source>
        <translation>中文打印方式</translation>
    </message>
    <message>
        <source>Printer&apos;s own font (GB18030)</source>
        <translation>打印机自带字库（GB18030）</translation>
    </message>
    <message>
        <source>Drawn as a picture</source>
        <translation>画成图片</translation>
    </message>
    <message>
        <source>A printer without a Chinese font prints garbled text: choose “Drawn as a picture” (slower).</source>
        <translation>没有中文字库的打印机会打出乱码：请选择“画成图片”（较慢）。</translation>
    </message>
    <message>
        <source>The QR code opens the order page set on the Alerts page.</source>
        <translation>扫码打开“提醒”页中设置的订单页面。</translation>
    </message>
    <message>
        <source>Same as the system</source>
        <translation>跟随系统</translation>
    </message>
    <message>
        <source>Debug (everything)</source>
        <translation>调试（全部记录）</translation>
    </message>
    <message>
        <source>Normal</source>
        <translation>正常</translation>
    </message>
    <message>
        <source>Warnings and errors</source>
        <translation>警告和错误</translation>
    </message>
    <message>
        <source>Errors only</source>
        <translation>仅错误</translation>
    </message>
    <message>
        <source>Choose the CA certificate</source>
        <translation>选择 CA 证书</translation>
    </message>
    <message>
        <source>Certificates (*.pem *.crt *.cer);;All files (*)</source>
        <translation>证书 (*.pem *.crt *.cer);;所有文件 (*)</translation>
    </message>
    <message>
        <source>Will be removed when you save</source>
        <translation>保存时将删除</translation>
    </message>
    <message>
        <source>The sky-take-out server&apos;s WebSocket base, ending in /ws/ (e.g. ws://shop:8080/ws/).</source>
        <translation>苍穹外卖服务器的 WebSocket 前缀，以 /ws/ 结尾（例如 ws://shop:8080/ws/）。</translation>
    </message>
    <message>
        <source>The ws:// or wss:// address the server sends its order messages on.</source>
        <translation>服务器发送订单消息的 ws:// 或 wss:// 地址。</translation>
    </message>
    <message>
        <source>The wss:// address of your Order Notifier server.</source>
        <translation>订单提醒服务器的 wss:// 地址。</translation>
    </message>
    <message>
        <source>amqp://USER@HOST:5672/VHOST — the password goes in the field below, not here.</source>
        <translation>amqp://用户@主机:5672/虚拟主机 — 密码请填在下方的密码栏，不要写在这里。</translation>
    </message>
    <message>
        <source>Enter the address of your order server.</source>
        <translation>请填写订单服务器的地址。</translation>
    </message>
    <message>
        <source>Enter the shop name you were given with the token.</source>
        <translation>请填写与令牌一起提供给您的店铺名称。</translation>
    </message>
    <message>
        <source>The settings could not be saved: %1</source>
        <translation>无法保存设置：%1</translation>
    </message>
    <message>
        <source>Connecting…</source>
        <translation>正在连接…</translation>
    </message>
    <message>
        <source>Printing…</source>
        <translation>正在打印…</translation>
    </message>
    <message>
        <source>The printer took the test page.</source>
        <translation>打印机已收到测试页。</translation>
    </message>
    <message>
        <source>Sending…</source>
        <translation>正在发送…</translation>
    </message>
    <message>
        <source>Speaking a sample…</source>
        <translation>正在播报示例…</translation>
    </message>
</context>
<context>
    <name>ShopCounter</name>
    <message>
        <source>Close the shop?</source>
        <translation>要打烊吗？</translation>
    </message>
    <message>
        <source>Orders still waiting to be accepted: {count}. Close the shop anyway? The waiting orders keep ringing.</source>
        <translation>还有 {count} 个订单等待接单。仍要打烊吗？等待中的订单会继续响铃。</translation>
    </message>
    <message>
        <source>The shop was not opened on %1</source>
        <translation>%1 未能开始营业</translation>
    </message>
    <message>
        <source>The shop was not closed on %1</source>
        <translation>%1 未能打烊</translation>
    </message>
    <message>
        <source>The shop was not opened</source>
        <translation>店铺没有开始营业</translation>
    </message>
    <message>
        <source>The shop was not closed</source>
        <translation>店铺没有打烊</translation>
    </message>
</context>
<context>
    <name>SystemPrinter</name>
    <message>
        <source>The printer {name} did not accept the ticket.</source>
        <translation>打印机 {name} 没有接受这张小票。</translation>
    </message>
    <message>
        <source>the default printer</source>
        <translation>默认打印机</translation>
    </message>
    <message>
        <source>The printer {name} is not installed on this computer.</source>
        <translation>这台电脑上没有安装打印机 {name}。</translation>
    </message>
</context>
<context>
    <name>Tray</name>
    <message>
        <source>Orders</source>
        <translation>订单</translation>
    </message>
    <message>
        <source>Stop ringing here (all orders)</source>
        <translation>本机全部停止提醒</translation>
    </message>
    <message>
        <source>Mute voice</source>
        <translation>语音静音</translation>
    </message>
    <message>
        <source>For 30 minutes</source>
        <translation>30 分钟</translation>
    </message>
    <message>
        <source>For 1 hour</source>
        <translation>1 小时</translation>
    </message>
    <message>
        <source>Until tomorrow</source>
        <translation>直到明天</translation>
    </message>
    <message>
        <source>Off (voice on)</source>
        <translation>关闭（恢复语音）</translation>
    </message>
    <message>
        <source>Reconnect now</source>
        <translation>立即重新连接</translation>
    </message>
    <message>
        <source>Settings…</source>
        <translation>设置…</translation>
    </message>
    <message>
        <source>Open log folder</source>
        <translation>打开日志文件夹</translation>
    </message>
    <message>
        <source>About Order Notifier</source>
        <translation>关于订单提醒</translation>
    </message>
    <message>
        <source>Quit</source>
        <translation>退出</translation>
    </message>
    <message>
        <source>Not connected yet</source>
        <translation>尚未连接</translation>
    </message>
    <message>
        <source>Not connected: {names}</source>
        <translation>未连接：{names}</translation>
    </message>
    <message>
        <source>All {count} connections are up</source>
        <translation>全部 {count} 个连接正常</translation>
    </message>
    <message>
        <source>Voice unavailable: {reason}</source>
        <translation>语音不可用：{reason}</translation>
    </message>
    <message>
        <source>state not known yet</source>
        <translation>状态未知</translation>
    </message>
    <message>
        <source>Shop open (taking orders)</source>
        <translation>营业中（接收订单）</translation>
    </message>
    <message>
        <source>Shop closed</source>
        <translation>已打烊</translation>
    </message>
    <message>
        <source>Open for orders on all {count}</source>
        <translation>{count} 个连接全部营业中</translation>
    </message>
    <message>
        <source>Closed on all {count} — click to open all</source>
        <translation>{count} 个连接全部已打烊 — 点击全部营业</translation>
    </message>
    <message>
        <source>Open on {open} of {count} — click to open all</source>
        <translation>{count} 个连接中 {open} 个营业中 — 点击全部营业</translation>
    </message>
    <message>
        <source>Open for orders (state not known yet)</source>
        <translation>营业中（状态未知）</translation>
    </message>
    <message>
        <source>Open for orders</source>
        <translation>营业中</translation>
    </message>
    <message>
        <source>Closed — click to open</source>
        <translation>已打烊 — 点击开始营业</translation>
    </message>
    <message>
        <source>Open or close one connection</source>
        <translation>单个连接营业 / 打烊</translation>
    </message>
    <message>
        <source>Accept order %1</source>
        <translation>接单 %1</translation>
    </message>
    <message>
        <source>Reject order %1…</source>
        <translation>拒单 %1…</translation>
    </message>
</context>
</TS>
