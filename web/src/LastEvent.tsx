import { InfoCircleOutlined } from '@ant-design/icons';
import { Badge, Button, Popover } from 'antd';
import type { DeliveryStatus, LastEvent } from './api';
import { formatDateTime } from './format';

const BADGE_STATUS = { success: 'success', error: 'error', pending: 'processing' } as const;

/** "success", "error" or "pending" as a coloured dot and the word. */
export function DeliveryStatusBadge({ status }: { status: DeliveryStatus }) {
  return <Badge status={BADGE_STATUS[status]} text={status} />;
}

/** The list's "Last event" cell: outcome and time, with the event type and status code on demand. */
export function LastEventCell({ lastEvent }: { lastEvent: LastEvent | null }) {
  if (!lastEvent) return <span>—</span>;
  const details = (
    <dl className="last-event-details">
      <dt>Event type</dt>
      <dd>{lastEvent.eventName}</dd>
      <dt>Status code</dt>
      <dd>{lastEvent.statusCode ?? 'none (no answer)'}</dd>
    </dl>
  );
  return (
    <div className="last-event">
      <DeliveryStatusBadge status={lastEvent.status} />
      <span className="last-event-time">{formatDateTime(lastEvent.dispatchedAt)}</span>
      <Popover content={details} title="Last event" trigger={['hover', 'focus']}>
        <Button type="text" size="small" icon={<InfoCircleOutlined aria-hidden />} aria-label="Last event details" />
      </Popover>
    </div>
  );
}
