import {
  ArrowLeftOutlined,
  DeleteOutlined,
  DownOutlined,
  EditOutlined,
  HistoryOutlined,
  RedoOutlined,
  ReloadOutlined,
  SendOutlined,
} from '@ant-design/icons';
import { Alert, App, Button, Card, Descriptions, Dropdown, Input, Result, Select, Space, Table, Tag, Tooltip, Typography } from 'antd';
import type { ColumnsType } from 'antd/es/table';
import { useEffect, useRef, useState } from 'react';
import { ApiError, type DeliveryQuery, type DeliveryStatus, type DeliverySummary, type Webhook } from './api';
import { DeleteWebhookModal } from './DeleteWebhookModal';
import { DeliveryDrawer } from './DeliveryDrawer';
import { isAutoDisabled } from './failed-run';
import { formatDateTime, plural } from './format';
import { useDebounced, useInterval, useLoad, useNarrow, usePageVisible } from './hooks';
import { DeliveryStatusBadge } from './LastEvent';
import { OperationNotice, useDeliveryOperation, type DeliveryWording } from './OperationNotice';
import { usePermissions } from './permissions';
import { ReEnableModal } from './ReEnableModal';
import { ResendFailedModal } from './ResendFailedModal';
import { Link, paths, useRouter } from './router';
import { describeScope } from './scope';
import { useSignedIn } from './session';
import { WebhookModal } from './WebhookModal';
import { DisabledExplanation, WebhookStatusTag } from './WebhookStatus';

/** How often the event history reloads by itself while the page is on screen. */
const AUTO_REFRESH_MS = 5000;
const STATUS_CODE = /^[1-5][0-9]{2}$/;

/** One webhook: its settings and its event history. */
export function WebhookDetail({ id }: { id: string }) {
  const { api } = useSignedIn();
  const { navigate } = useRouter();
  const { message } = App.useApp();
  const { manageWebhooks } = usePermissions();
  const visible = usePageVisible();
  const webhook = useLoad(() => api.getWebhook(id), id);
  const [editing, setEditing] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const [enabling, setEnabling] = useState(false);
  // Bumped when something outside the history changed it (a webhook enabled with resends).
  const [historyVersion, setHistoryVersion] = useState(0);
  // The webhook is read again now and then too, so a webhook Herald disables shows as such;
  // not while a modal works on it.
  const modalOpen = editing || deleting || enabling;
  useInterval(() => webhook.reload({ quiet: true }), AUTO_REFRESH_MS, visible && !modalOpen && !webhook.loading);

  if (webhook.error instanceof ApiError && webhook.error.status === 404) {
    return (
      <Result
        status="404"
        title="Webhook not found"
        subTitle="It was deleted, or it is outside the reach of your token."
        extra={<Link to={paths.webhooks()}>Back to webhooks</Link>}
      />
    );
  }

  return (
    <section aria-labelledby="webhook-heading">
      <Link to={paths.webhooks()} className="back-link">
        <ArrowLeftOutlined aria-hidden /> Back to webhooks
      </Link>
      <Typography.Title level={1} id="webhook-heading" className="page-title detail-heading break-anywhere">
        {webhook.data ? (webhook.data.name ?? webhook.data.url) : 'Webhook'}
      </Typography.Title>
      {webhook.error && (
        <Alert
          type="error"
          showIcon
          className="block-gap"
          title={webhook.error.message}
          action={
            <Button size="small" onClick={() => webhook.reload()}>
              Try again
            </Button>
          }
        />
      )}

      {webhook.data && !webhook.data.active && (
        <InactiveAlert webhook={webhook.data} onEnable={manageWebhooks ? () => setEnabling(true) : undefined} />
      )}

      <Card
        title="Settings"
        className="block-gap"
        loading={webhook.loading && !webhook.data}
        extra={
          webhook.data &&
          manageWebhooks && (
            <Space wrap>
              <Button icon={<EditOutlined aria-hidden />} onClick={() => setEditing(true)}>
                Edit
              </Button>
              <Button danger icon={<DeleteOutlined aria-hidden />} onClick={() => setDeleting(true)}>
                Delete
              </Button>
            </Space>
          )
        }
      >
        {webhook.data && <SettingsList webhook={webhook.data} />}
      </Card>

      {webhook.data && <EventHistory webhook={webhook.data} version={historyVersion} />}

      {editing && webhook.data && (
        <WebhookModal
          target={{ mode: 'edit', webhook: webhook.data }}
          onClose={() => setEditing(false)}
          onSaved={() => {
            setEditing(false);
            webhook.reload({ quiet: true });
            message.success('Webhook saved');
          }}
        />
      )}
      {enabling && webhook.data && (
        <ReEnableModal
          webhook={webhook.data}
          onClose={() => setEnabling(false)}
          onEnabled={(_enabled, resent) => {
            setEnabling(false);
            webhook.reload({ quiet: true });
            setHistoryVersion((version) => version + 1);
            message.success(
              resent > 0
                ? `Webhook enabled; ${plural(resent, 'failed delivery', 'failed deliveries')} queued again`
                : 'Webhook enabled',
            );
          }}
        />
      )}
      {deleting && webhook.data && (
        <DeleteWebhookModal
          webhook={webhook.data}
          onClose={() => setDeleting(false)}
          onDeleted={() => {
            message.success('Webhook deleted');
            navigate(paths.webhooks());
          }}
        />
      )}
    </section>
  );
}

/** An inactive webhook says so first: for one Herald disabled, why, and how to enable it. */
function InactiveAlert({ webhook, onEnable }: { webhook: Webhook; onEnable?: () => void }) {
  const automatic = isAutoDisabled(webhook);
  return (
    <Alert
      type={automatic ? 'warning' : 'info'}
      showIcon
      className="block-gap inactive-alert"
      title={automatic ? 'This webhook was disabled because its deliveries kept failing' : 'This webhook is inactive'}
      description={
        automatic ? (
          <DisabledExplanation webhook={webhook} />
        ) : (
          'It receives no events; test events and resends wait until it is active again.'
        )
      }
      action={
        onEnable && (
          <Button onClick={onEnable} aria-label={automatic ? 'Re-enable webhook' : 'Enable webhook'}>
            {automatic ? 'Re-enable' : 'Enable'}
          </Button>
        )
      }
    />
  );
}

/** Everything about the webhook but its secret, which Herald never gives out. */
function SettingsList({ webhook }: { webhook: Webhook }) {
  return (
    <Descriptions
      size="small"
      column={{ xs: 1, sm: 1, md: 2 }}
      items={[
        { key: 'url', label: 'Target URL', span: 'filled', children: <span className="break-anywhere">{webhook.url}</span> },
        { key: 'name', label: 'Name', children: webhook.name ?? '—' },
        { key: 'scope', label: 'Scope', children: describeScope(webhook) },
        {
          key: 'events',
          label: 'Events',
          span: 'filled',
          children: (
            <div className="tags">
              {webhook.events.map((event) => (
                <Tag key={event}>{event}</Tag>
              ))}
            </div>
          ),
        },
        { key: 'method', label: 'Method', children: webhook.method },
        { key: 'content-type', label: 'Content type', children: webhook.contentType },
        { key: 'attempts', label: 'Max attempts', children: webhook.maxAttempts },
        {
          key: 'status',
          label: 'Status',
          children: (
            <span className="status-line">
              <WebhookStatusTag webhook={webhook} />
              {isAutoDisabled(webhook) && (
                <Typography.Text type="secondary">by Herald, {formatDateTime(webhook.disabledAt)}</Typography.Text>
              )}
            </span>
          ),
        },
        { key: 'ca', label: 'CA certificate', children: webhook.base64CA ? 'Set' : 'Not set' },
        {
          key: 'proxy',
          label: 'Proxy URL',
          children: webhook.proxy ? <span className="break-anywhere">{webhook.proxy.url}</span> : 'None',
        },
        {
          key: 'secret-rotation',
          label: 'Previous secret',
          children: webhook.previousSecretExpiresAt
            ? `Still signing until ${formatDateTime(webhook.previousSecretExpiresAt)}`
            : 'None',
        },
        { key: 'created', label: 'Created', children: formatDateTime(webhook.createdAt) },
        { key: 'updated', label: 'Updated', children: formatDateTime(webhook.updatedAt) },
      ]}
    />
  );
}

/** The webhook's latest deliveries (Herald keeps 200), sortable and filterable. */
function EventHistory({ webhook, version }: { webhook: Webhook; version: number }) {
  const { api } = useSignedIn();
  const { operateDeliveries } = usePermissions();
  const { message } = App.useApp();
  const visible = usePageVisible();
  const narrow = useNarrow();
  const [resendingFailed, setResendingFailed] = useState(false);
  const [sort, setSort] = useState<'newest' | 'oldest'>('newest');
  const [eventName, setEventName] = useState<string | undefined>(undefined);
  const [status, setStatus] = useState<DeliveryStatus | undefined>(undefined);
  const [statusCodeText, setStatusCodeText] = useState('');
  const [viewing, setViewing] = useState<string | null>(null);
  const statusCode = useDebounced(statusCodeText.trim(), 300);
  const statusCodeValid = statusCode === '' || STATUS_CODE.test(statusCode);

  const query: DeliveryQuery = { sort, eventName, status, statusCode: statusCodeValid && statusCode ? statusCode : undefined };
  const deliveries = useLoad(() => api.listDeliveries(webhook.id, query), JSON.stringify([webhook.id, query]));
  useInterval(() => deliveries.reload({ quiet: true }), AUTO_REFRESH_MS, visible && !deliveries.loading);
  const reloadQuietly = () => deliveries.reload({ quiet: true });
  useReloadOnChange(version, reloadQuietly);
  const operation = useDeliveryOperation(webhook.id, webhook.active, reloadQuietly);
  // What the notice says about an inactive webhook no longer holds once it is enabled, and the
  // other way round.
  const shownActive = useRef(webhook.active);
  const clearNotice = operation.show;
  useEffect(() => {
    if (shownActive.current === webhook.active) return;
    shownActive.current = webhook.active;
    clearNotice(null);
  }, [webhook.active, clearNotice]);

  const sendTest = (event?: string) =>
    operation.run(testWording(event ?? webhook.events[0]), () => api.sendTestEvent(webhook.id, event));
  const resendRow = (delivery: DeliverySummary) =>
    operation.run(RESEND_ROW, () => api.resendDelivery(webhook.id, delivery.id));

  const columns: ColumnsType<DeliverySummary> = [
    {
      title: 'Date and time',
      key: 'time',
      width: 200,
      render: (_v, delivery) => (
        <div>
          <div>{formatDateTime(delivery.dispatchedAt ?? delivery.createdAt)}</div>
          {delivery.status === 'pending' && !webhook.active ? (
            <Typography.Text type="secondary" className="small-note">
              Waits until the webhook is enabled
            </Typography.Text>
          ) : (
            delivery.nextAttemptAt && (
              <Typography.Text type="secondary" className="small-note">
                Next attempt {formatDateTime(delivery.nextAttemptAt)}
              </Typography.Text>
            )
          )}
          {delivery.resentFrom && (
            <Typography.Text type="secondary" className="small-note resent-note">
              Resent
            </Typography.Text>
          )}
        </div>
      ),
    },
    { title: 'Event type', dataIndex: 'eventName', key: 'eventName', width: 200 },
    {
      title: 'Status',
      key: 'status',
      width: 150,
      render: (_v, delivery) => (
        <span className="status-cell">
          <DeliveryStatusBadge status={delivery.status} />
          {delivery.statusCode !== null && <span className="status-code">{delivery.statusCode}</span>}
        </span>
      ),
    },
    { title: 'Attempts', dataIndex: 'attempts', key: 'attempts', width: 90 },
    {
      title: <span className="visually-hidden">Request</span>,
      key: 'view',
      width: !operateDeliveries ? 140 : narrow ? 170 : 220,
      fixed: 'right',
      render: (_v, delivery) => (
        <Space size={4}>
          <Button size="small" onClick={() => setViewing(delivery.id)}>
            View request
          </Button>
          {operateDeliveries && delivery.status === 'error' && (
            <Tooltip title="Send this event again as a new delivery">
              <Button
                size="small"
                icon={<RedoOutlined aria-hidden />}
                aria-label={`Resend the ${delivery.eventName} delivery`}
                disabled={operation.busy}
                onClick={() => resendRow(delivery)}
              >
                {narrow ? null : 'Resend'}
              </Button>
            </Tooltip>
          )}
        </Space>
      ),
    },
  ];

  const testEvents = webhook.events.length > 1 && (
    <Dropdown
      disabled={operation.busy}
      trigger={['click']}
      menu={{
        items: webhook.events.map((event) => ({ key: event, label: event })),
        onClick: ({ key }) => void sendTest(key),
      }}
    >
      <Button icon={<DownOutlined aria-hidden />} aria-label="Send a test event of another type" />
    </Dropdown>
  );

  return (
    <Card
      title="Event history"
      extra={
        <Button icon={<ReloadOutlined aria-hidden />} onClick={() => deliveries.reload()} loading={deliveries.loading}>
          Refresh
        </Button>
      }
    >
      {operateDeliveries && (
        <div className="toolbar history-actions" role="group" aria-label="Operations">
          <Space.Compact>
            <Button
              icon={<SendOutlined aria-hidden />}
              onClick={() => void sendTest()}
              loading={operation.busy}
              aria-label={`Send test event (${webhook.events[0]})`}
            >
              Send test event
            </Button>
            {testEvents}
          </Space.Compact>
          <Button icon={<HistoryOutlined aria-hidden />} onClick={() => setResendingFailed(true)} aria-label="Resend failed deliveries">
            Resend failed…
          </Button>
        </div>
      )}
      <div className="toolbar history-filters">
        <div className="toolbar-field">
          <label htmlFor="history-sort">Sort</label>
          <Select
            id="history-sort"
            value={sort}
            onChange={setSort}
            style={{ width: 150 }}
            options={[
              { value: 'newest', label: 'Newest first' },
              { value: 'oldest', label: 'Oldest first' },
            ]}
          />
        </div>
        <div className="toolbar-field">
          <label htmlFor="history-event">Event type</label>
          <Select
            id="history-event"
            value={eventName}
            onChange={setEventName}
            allowClear
            placeholder="Any"
            style={{ width: 210 }}
            options={webhook.events.map((event) => ({ value: event, label: event }))}
          />
        </div>
        <div className="toolbar-field">
          <label htmlFor="history-status">Status</label>
          <Select
            id="history-status"
            value={status}
            onChange={setStatus}
            allowClear
            placeholder="Any"
            style={{ width: 130 }}
            options={(['success', 'error', 'pending'] as const).map((value) => ({ value, label: value }))}
          />
        </div>
        <div className="toolbar-field">
          <label htmlFor="history-status-code">Status code</label>
          <Input
            id="history-status-code"
            value={statusCodeText}
            onChange={(event) => setStatusCodeText(event.target.value)}
            placeholder="e.g. 500"
            inputMode="numeric"
            maxLength={3}
            style={{ width: 110 }}
            status={statusCodeValid ? undefined : 'error'}
            aria-invalid={!statusCodeValid}
            aria-describedby={statusCodeValid ? undefined : 'history-status-code-help'}
            allowClear
          />
          {!statusCodeValid && (
            <span id="history-status-code-help" className="field-help-error">
              A code from 100 to 599
            </span>
          )}
        </div>
      </div>
      <OperationNotice notice={operation.notice} onClose={() => operation.show(null)} onView={setViewing} />
      {deliveries.error && <Alert type="error" showIcon className="block-gap" title={deliveries.error.message} />}
      <Table<DeliverySummary>
        rowKey="id"
        size="middle"
        columns={columns}
        dataSource={deliveries.data ?? []}
        loading={deliveries.loading && !deliveries.data}
        scroll={{ x: operateDeliveries ? 860 : 780 }}
        pagination={{ pageSize: 50, hideOnSinglePage: true, showSizeChanger: false }}
        locale={{ emptyText: deliveries.loading ? ' ' : emptyHistoryText(query, operateDeliveries) }}
      />
      {viewing && (
        <DeliveryDrawer
          webhook={webhook}
          deliveryId={viewing}
          onClose={() => setViewing(null)}
          onOpen={setViewing}
          onChanged={reloadQuietly}
        />
      )}
      {resendingFailed && (
        <ResendFailedModal
          webhook={webhook}
          onClose={() => setResendingFailed(false)}
          onQueued={(count, since) => {
            setResendingFailed(false);
            reloadQuietly();
            const text =
              count === 0
                ? `No failed delivery since ${formatDateTime(since.toISOString())}: nothing was queued.`
                : `${plural(count, 'failed delivery', 'failed deliveries')} queued again.`;
            operation.show({ type: count === 0 ? 'info' : 'success', title: text });
            message.success(count === 0 ? 'Nothing to resend' : `${plural(count, 'delivery', 'deliveries')} queued`);
          }}
        />
      )}
    </Card>
  );
}

const RESEND_ROW: DeliveryWording = {
  running: 'Resending the delivery…',
  subject: 'The resent delivery',
  refused: 'The delivery could not be resent',
};

function testWording(eventName: string | undefined): DeliveryWording {
  const what = eventName ? `test event (${eventName})` : 'test event';
  return { running: `Sending a ${what}…`, subject: `The ${what}`, refused: `The ${what} could not be sent` };
}

function emptyHistoryText(query: DeliveryQuery, canSendTest: boolean): string {
  if (query.eventName || query.status || query.statusCode) return 'No delivery matches these filters';
  return canSendTest ? 'No events delivered yet: send a test event to try the webhook' : 'No events delivered yet';
}

/** Runs `reload` each time `version` changes after the first render. */
function useReloadOnChange(version: number, reload: () => void): void {
  const first = useRef(version);
  const reloadRef = useRef(reload);
  reloadRef.current = reload;
  useEffect(() => {
    if (version !== first.current) reloadRef.current();
  }, [version]);
}
