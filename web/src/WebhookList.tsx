import { ArrowRightOutlined, DeleteOutlined, EditOutlined, PlusOutlined, ReloadOutlined } from '@ant-design/icons';
import { Alert, App, Button, Empty, Select, Space, Table, Tag, Tooltip, Typography } from 'antd';
import type { ColumnsType } from 'antd/es/table';
import { useState } from 'react';
import type { CreatedWebhook, Webhook } from './api';
import { DeleteWebhookModal } from './DeleteWebhookModal';
import { GeneratedSecretModal } from './GeneratedSecretModal';
import { plural } from './format';
import { useEventTypes, useLoad } from './hooks';
import { LastEventCell } from './LastEvent';
import { usePermissions } from './permissions';
import { ReEnableModal } from './ReEnableModal';
import { paths, useRouter } from './router';
import { missingScopeId, scopeQuery, type ConsoleScope } from './scope';
import { useSignedIn } from './session';
import { WebhookModal, type WebhookModalTarget } from './WebhookModal';
import { WebhookStatusCell } from './WebhookStatus';

const PAGE_SIZE = 20;

/** The webhooks of the scope chosen in the header, filterable by the events they listen to. */
export function WebhookList({ scope }: { scope: ConsoleScope }) {
  const { api } = useSignedIn();
  const { navigate } = useRouter();
  const { message } = App.useApp();
  const catalog = useEventTypes(api);
  const [eventFilter, setEventFilter] = useState<string[]>([]);
  const [modal, setModal] = useState<WebhookModalTarget | null>(null);
  const [deleting, setDeleting] = useState<Webhook | null>(null);
  const [generatedSecret, setGeneratedSecret] = useState<string | null>(null);
  const [enabling, setEnabling] = useState<Webhook | null>(null);
  const { manageWebhooks } = usePermissions();

  const missing = missingScopeId(scope);
  const query = missing ? null : scopeQuery(scope);
  // The API filters by one event; with several, a webhook listening to any of them is shown.
  const serverEvent = eventFilter.length === 1 ? eventFilter[0] : undefined;
  const list = useLoad(
    async () => (query ? api.listWebhooks({ ...query, event: serverEvent }) : []),
    JSON.stringify([query, serverEvent]),
  );
  const webhooks = (list.data ?? []).filter(
    (webhook) => eventFilter.length < 2 || webhook.events.some((event) => eventFilter.includes(event)),
  );

  const openAdd = () => setModal({ mode: 'add', scope });
  const onSaved = (webhook: CreatedWebhook) => {
    const added = modal?.mode === 'add';
    setModal(null);
    list.reload({ quiet: true });
    if (webhook.secret) setGeneratedSecret(webhook.secret);
    else message.success(added ? 'Webhook added' : 'Webhook saved');
  };

  const columns: ColumnsType<Webhook> = [
    {
      title: 'Target URL',
      key: 'url',
      width: 300,
      render: (_value, webhook) => (
        <div className="target-cell">
          <Typography.Text className="break-anywhere">{webhook.url}</Typography.Text>
          {webhook.name && (
            <Typography.Text type="secondary" className="webhook-name">
              {webhook.name}
            </Typography.Text>
          )}
        </div>
      ),
    },
    {
      title: 'Events',
      key: 'events',
      width: 240,
      render: (_value, webhook) => (
        <div className="tags">
          {webhook.events.map((event) => (
            <Tag key={event}>{event}</Tag>
          ))}
        </div>
      ),
    },
    {
      title: 'Status',
      key: 'status',
      width: 140,
      render: (_value, webhook) => (
        <WebhookStatusCell webhook={webhook} onReEnable={manageWebhooks ? () => setEnabling(webhook) : undefined} />
      ),
    },
    {
      title: 'Last event',
      key: 'lastEvent',
      width: 240,
      render: (_value, webhook) => <LastEventCell lastEvent={webhook.lastEvent} />,
    },
    {
      title: <span className="visually-hidden">Actions</span>,
      key: 'actions',
      width: manageWebhooks ? 130 : 60,
      fixed: 'right',
      render: (_value, webhook) => (
        <Space size={2}>
          {manageWebhooks && (
            <>
              <Tooltip title="Edit">
                <Button
                  type="text"
                  icon={<EditOutlined aria-hidden />}
                  aria-label="Edit webhook"
                  onClick={() => setModal({ mode: 'edit', webhook })}
                />
              </Tooltip>
              <Tooltip title="Delete">
                <Button
                  type="text"
                  danger
                  icon={<DeleteOutlined aria-hidden />}
                  aria-label="Delete webhook"
                  onClick={() => setDeleting(webhook)}
                />
              </Tooltip>
            </>
          )}
          <Tooltip title="Details and event history">
            <Button
              type="text"
              icon={<ArrowRightOutlined aria-hidden />}
              aria-label="Open webhook"
              onClick={() => navigate(paths.webhook(webhook.id))}
            />
          </Tooltip>
        </Space>
      ),
    },
  ];

  const emptyText = list.loading ? (
    ' '
  ) : eventFilter.length > 0 ? (
    <Empty description="No webhook listens to these events" />
  ) : (
    <Empty description="No webhooks yet">
      {manageWebhooks && (
        <Button type="primary" onClick={openAdd} disabled={missing !== null}>
          Add your first webhook
        </Button>
      )}
    </Empty>
  );

  return (
    <section aria-labelledby="webhooks-heading">
      <div className="page-heading">
        <Typography.Title level={1} id="webhooks-heading" className="page-title">
          Webhooks
        </Typography.Title>
        {manageWebhooks && (
          <Button type="primary" icon={<PlusOutlined aria-hidden />} onClick={openAdd} disabled={missing !== null}>
            Add webhook
          </Button>
        )}
      </div>

      <div className="toolbar">
        <div className="toolbar-field">
          <label htmlFor="event-filter">Filter by events</label>
          <Select
            id="event-filter"
            mode="multiple"
            allowClear
            placeholder="All events"
            value={eventFilter}
            onChange={setEventFilter}
            loading={catalog.loading}
            options={(catalog.data ?? []).map((type) => ({ value: type.name, label: type.name }))}
            optionFilterProp="label"
            className="event-filter"
            maxTagCount="responsive"
          />
        </div>
        <Button icon={<ReloadOutlined aria-hidden />} onClick={() => list.reload()} disabled={missing !== null}>
          Refresh
        </Button>
      </div>

      {missing && (
        <Alert
          type="info"
          showIcon
          className="block-gap"
          title={`Enter a ${missing} in the header to see the ${scope.kind === 'company' ? "company's" : "project's"} webhooks.`}
        />
      )}
      {list.error && (
        <Alert
          type="error"
          showIcon
          className="block-gap"
          title={list.error.message}
          action={
            <Button size="small" onClick={() => list.reload()}>
              Try again
            </Button>
          }
        />
      )}

      <Table<Webhook>
        rowKey="id"
        columns={columns}
        dataSource={list.error ? [] : webhooks}
        loading={list.loading}
        locale={{ emptyText }}
        scroll={{ x: 1050 }}
        pagination={{ pageSize: PAGE_SIZE, hideOnSinglePage: true, showSizeChanger: false }}
        className="webhook-table"
      />

      {modal && <WebhookModal target={modal} onClose={() => setModal(null)} onSaved={onSaved} />}
      {deleting && (
        <DeleteWebhookModal
          webhook={deleting}
          onClose={() => setDeleting(null)}
          onDeleted={() => {
            setDeleting(null);
            list.reload({ quiet: true });
            message.success('Webhook deleted');
          }}
        />
      )}
      {enabling && (
        <ReEnableModal
          webhook={enabling}
          onClose={() => setEnabling(null)}
          onEnabled={(_enabled, resent) => {
            setEnabling(null);
            list.reload({ quiet: true });
            message.success(
              resent > 0 ? `Webhook enabled; ${plural(resent, 'failed delivery', 'failed deliveries')} queued again` : 'Webhook enabled',
            );
          }}
        />
      )}
      {generatedSecret && <GeneratedSecretModal secret={generatedSecret} onDone={() => setGeneratedSecret(null)} />}
    </section>
  );
}
