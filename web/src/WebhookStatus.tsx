import { InfoCircleOutlined } from '@ant-design/icons';
import { Button, Popover, Tag, Typography } from 'antd';
import type { Webhook } from './api';
import { isAutoDisabled } from './failed-run';
import { formatDateTime } from './format';

/** "Active", "Inactive" (set so by a person) or "Disabled" (set so by Herald, with a reason). */
export function WebhookStatusTag({ webhook }: { webhook: Webhook }) {
  if (webhook.active) return <Tag color="green">Active</Tag>;
  if (isAutoDisabled(webhook)) return <Tag color="red">Disabled</Tag>;
  return <Tag>Inactive</Tag>;
}

/** Why Herald disabled the webhook and what that means, in a few lines. */
export function DisabledExplanation({ webhook }: { webhook: Webhook }) {
  return (
    <div className="disabled-explanation">
      <Typography.Paragraph className="disabled-when">
        Disabled automatically {webhook.disabledAt ? `on ${formatDateTime(webhook.disabledAt)}` : ''}: {webhook.disabledReason}.
      </Typography.Paragraph>
      <Typography.Paragraph type="secondary" className="disabled-effect">
        New events are not sent to it, and deliveries already queued wait until it is enabled again.
      </Typography.Paragraph>
    </div>
  );
}

/** The list's status cell: the tag, and for a webhook Herald disabled, its reason on demand. */
export function WebhookStatusCell({ webhook, onReEnable }: { webhook: Webhook; onReEnable?: () => void }) {
  if (!isAutoDisabled(webhook)) return <WebhookStatusTag webhook={webhook} />;
  return (
    <div className="status-stack">
      <span className="status-line">
        <WebhookStatusTag webhook={webhook} />
        <Popover
          content={<DisabledExplanation webhook={webhook} />}
          title="Why it is disabled"
          trigger={['hover', 'focus', 'click']}
          classNames={{ root: 'disabled-popover' }}
        >
          <Button type="text" size="small" icon={<InfoCircleOutlined aria-hidden />} aria-label="Why the webhook is disabled" />
        </Popover>
      </span>
      {onReEnable && (
        <Button size="small" onClick={onReEnable} aria-label="Re-enable webhook">
          Re-enable
        </Button>
      )}
    </div>
  );
}
