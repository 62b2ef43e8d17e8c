import { RedoOutlined } from '@ant-design/icons';
import { Alert, Button, Descriptions, Drawer, Skeleton, Table, Typography } from 'antd';
import type { DeliveryAttempt, DeliveryDetail, DeliveryError, Webhook } from './api';
import { formatDateTime, prettyJson } from './format';
import { useLoad, useNarrow } from './hooks';
import { DeliveryStatusBadge } from './LastEvent';
import { OperationNotice, useDeliveryOperation, type DeliveryWording } from './OperationNotice';
import { usePermissions } from './permissions';
import { useSignedIn } from './session';

interface DeliveryDrawerProps {
  webhook: Webhook;
  deliveryId: string;
  onClose(): void;
  /** Shows another delivery of the webhook in the drawer (a resend, or the original of one). */
  onOpen(deliveryId: string): void;
  /** A resend was queued or attempted: the history has changed. */
  onChanged(): void;
}

const RESEND: DeliveryWording = {
  running: 'Resending the delivery…',
  subject: 'The resent delivery',
  refused: 'The delivery could not be resent',
};

/** One delivery in full: what Herald sent, what came back, and every attempt; and resending it. */
export function DeliveryDrawer({ webhook, deliveryId, onClose, onOpen, onChanged }: DeliveryDrawerProps) {
  const { api } = useSignedIn();
  const { operateDeliveries } = usePermissions();
  const narrow = useNarrow();
  const delivery = useLoad(() => api.getDelivery(webhook.id, deliveryId), `${webhook.id}/${deliveryId}`);
  const resend = useDeliveryOperation(webhook.id, webhook.active, () => {
    onChanged();
    delivery.reload({ quiet: true });
  });

  return (
    <Drawer
      open
      title="Delivery"
      onClose={onClose}
      size={narrow ? '100%' : 720}
      destroyOnHidden
      extra={
        operateDeliveries && (
          <Button
            icon={<RedoOutlined aria-hidden />}
            onClick={() => resend.run(RESEND, () => api.resendDelivery(webhook.id, deliveryId))}
            loading={resend.busy}
            disabled={!delivery.data}
            aria-label="Resend this delivery"
          >
            Resend
          </Button>
        )
      }
    >
      <OperationNotice
        notice={resend.notice}
        onClose={() => resend.show(null)}
        onView={resend.notice?.deliveryId === deliveryId ? undefined : onOpen}
        viewLabel="Open the new delivery"
      />
      {delivery.error && <Alert type="error" showIcon title={delivery.error.message} />}
      {delivery.loading && !delivery.data && <Skeleton active />}
      {delivery.data && <DeliveryDetails delivery={delivery.data} onOpen={onOpen} />}
    </Drawer>
  );
}

function DeliveryDetails({ delivery, onOpen }: { delivery: DeliveryDetail; onOpen(deliveryId: string): void }) {
  const failed = delivery.status === 'error' || delivery.error !== null;
  return (
    <div className="delivery">
      <Descriptions
        size="small"
        column={1}
        className="block-gap"
        items={[
          { key: 'event', label: 'Event type', children: delivery.eventName },
          {
            key: 'status',
            label: 'Status',
            children: (
              <span>
                <DeliveryStatusBadge status={delivery.status} />
                {delivery.statusCode !== null && <span className="status-code">{delivery.statusCode}</span>}
              </span>
            ),
          },
          { key: 'dispatched', label: 'Dispatched', children: formatDateTime(delivery.dispatchedAt) },
          { key: 'attempts', label: 'Attempts', children: delivery.attempts },
          ...(delivery.nextAttemptAt
            ? [{ key: 'next', label: 'Next attempt', children: formatDateTime(delivery.nextAttemptAt) }]
            : []),
          { key: 'event-id', label: 'Event ID', children: <Typography.Text code>{delivery.eventId}</Typography.Text> },
          ...(delivery.resentFrom
            ? [
                {
                  key: 'resent-from',
                  label: 'Resent from',
                  children: (
                    <Button
                      type="link"
                      size="small"
                      className="inline-link"
                      onClick={() => onOpen(delivery.resentFrom!)}
                      aria-label={`Open the original delivery ${delivery.resentFrom}`}
                    >
                      {delivery.resentFrom}
                    </Button>
                  ),
                },
              ]
            : []),
        ]}
      />

      {/* A failure's cause comes first: it is what the reader came for. */}
      {failed && (
        <section aria-labelledby="delivery-error">
          <Typography.Title level={5} id="delivery-error">
            Error
          </Typography.Title>
          <Alert type="error" className="block-gap" title={errorText(delivery.error) ?? 'The delivery failed.'} />
        </section>
      )}

      <section aria-labelledby="delivery-body">
        <Typography.Title level={5} id="delivery-body">
          Request body
        </Typography.Title>
        <pre className="code-block" tabIndex={0}>
          {prettyJson(delivery.requestBody)}
        </pre>
      </section>

      <section aria-labelledby="delivery-headers">
        <Typography.Title level={5} id="delivery-headers">
          Request headers
        </Typography.Title>
        {delivery.requestHeaders && Object.keys(delivery.requestHeaders).length > 0 ? (
          <dl className="header-list">
            {Object.entries(delivery.requestHeaders).map(([name, value]) => (
              <div key={name} className="header-row">
                <dt>{name}</dt>
                <dd>{value}</dd>
              </div>
            ))}
          </dl>
        ) : (
          <Typography.Paragraph type="secondary">Not sent yet.</Typography.Paragraph>
        )}
      </section>

      <section aria-labelledby="delivery-response">
        <Typography.Title level={5} id="delivery-response">
          Response
        </Typography.Title>
        <Typography.Paragraph>
          Status code: <strong>{delivery.statusCode ?? 'none (no answer)'}</strong>
        </Typography.Paragraph>
        {delivery.responseBody ? (
          <pre className="code-block" tabIndex={0}>
            {delivery.responseBody}
          </pre>
        ) : (
          <Typography.Paragraph type="secondary">No response body.</Typography.Paragraph>
        )}
      </section>


      <section aria-labelledby="delivery-attempts">
        <Typography.Title level={5} id="delivery-attempts">
          Attempt log
        </Typography.Title>
        <Table<DeliveryAttempt>
          size="small"
          rowKey="attempt"
          pagination={false}
          dataSource={delivery.attemptLog}
          scroll={{ x: 520 }}
          locale={{ emptyText: 'No attempt yet' }}
          columns={[
            { title: 'Attempt', dataIndex: 'attempt', width: 80 },
            { title: 'Started', key: 'started', render: (_v, attempt) => formatDateTime(attempt.startedAt) },
            { title: 'Duration', key: 'duration', width: 100, render: (_v, attempt) => `${attempt.durationMs} ms` },
            {
              title: 'Result',
              key: 'result',
              render: (_v, attempt) => errorText(attempt.error) ?? attempt.statusCode ?? '—',
            },
          ]}
        />
      </section>
    </div>
  );
}

function errorText(error: DeliveryError | null): string | null {
  return error ? `${error.code}: ${error.message}` : null;
}
