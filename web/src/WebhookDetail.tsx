import { ArrowLeftOutlined, DeleteOutlined, EditOutlined, ReloadOutlined } from '@ant-design/icons';
import { Alert, App, Button, Card, Descriptions, Input, Result, Select, Space, Table, Tag, Typography } from 'antd';
import type { ColumnsType } from 'antd/es/table';
import { useState } from 'react';
import { ApiError, type DeliveryQuery, type DeliveryStatus, type DeliverySummary, type Webhook } from './api';
import { DeleteWebhookModal } from './DeleteWebhookModal';
import { DeliveryDrawer } from './DeliveryDrawer';
import { formatDateTime } from './format';
import { useDebounced, useInterval, useLoad, usePageVisible } from './hooks';
import { DeliveryStatusBadge } from './LastEvent';
import { Link, paths, useRouter } from './router';
import { describeScope } from './scope';
import { useSignedIn } from './session';
import { WebhookModal } from './WebhookModal';

/** How often the event history reloads by itself while the page is on screen. */
const AUTO_REFRESH_MS = 5000;
const STATUS_CODE = /^[1-5][0-9]{2}$/;

/** One webhook: its settings and its event history. */
export function WebhookDetail({ id }: { id: string }) {
  const { api } = useSignedIn();
  const { navigate } = useRouter();
  const { message } = App.useApp();
  const webhook = useLoad(() => api.getWebhook(id), id);
  const [editing, setEditing] = useState(false);
  const [deleting, setDeleting] = useState(false);

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

      <Card
        title="Settings"
        className="block-gap"
        loading={webhook.loading && !webhook.data}
        extra={
          webhook.data && (
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

      {webhook.data && <EventHistory webhook={webhook.data} />}

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
          children: webhook.active ? <Tag color="green">Active</Tag> : <Tag>Inactive</Tag>,
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
function EventHistory({ webhook }: { webhook: Webhook }) {
  const { api } = useSignedIn();
  const visible = usePageVisible();
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

  const columns: ColumnsType<DeliverySummary> = [
    {
      title: 'Date and time',
      key: 'time',
      width: 200,
      render: (_v, delivery) => (
        <div>
          <div>{formatDateTime(delivery.dispatchedAt ?? delivery.createdAt)}</div>
          {delivery.nextAttemptAt && (
            <Typography.Text type="secondary" className="small-note">
              Next attempt {formatDateTime(delivery.nextAttemptAt)}
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
      width: 140,
      fixed: 'right',
      render: (_v, delivery) => (
        <Button size="small" onClick={() => setViewing(delivery.id)}>
          View request
        </Button>
      ),
    },
  ];

  return (
    <Card
      title="Event history"
      extra={
        <Button icon={<ReloadOutlined aria-hidden />} onClick={() => deliveries.reload()} loading={deliveries.loading}>
          Refresh
        </Button>
      }
    >
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
      {deliveries.error && <Alert type="error" showIcon className="block-gap" title={deliveries.error.message} />}
      <Table<DeliverySummary>
        rowKey="id"
        size="middle"
        columns={columns}
        dataSource={deliveries.data ?? []}
        loading={deliveries.loading && !deliveries.data}
        scroll={{ x: 780 }}
        pagination={{ pageSize: 50, hideOnSinglePage: true, showSizeChanger: false }}
        locale={{ emptyText: deliveries.loading ? ' ' : 'No events delivered yet' }}
      />
      {viewing && <DeliveryDrawer webhookId={webhook.id} deliveryId={viewing} onClose={() => setViewing(null)} />}
    </Card>
  );
}
